-- Accounts as they were on each day (segment, ARR, seats, CSM): what the daily signals use.
{{ cdc_daily_versions('crm', 'accounts', {
    'account_id': 'varchar',
    'name': 'varchar',
    'segment': 'varchar',
    'arr': 'double',
    'plan': 'varchar',
    'seats_purchased': 'integer',
    'csm_id': 'varchar',
    'created_at': 'timestamp'
}) }}
