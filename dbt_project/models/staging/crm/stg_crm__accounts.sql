{{ cdc_current_state('crm', 'accounts', {
    'account_id': 'varchar',
    'name': 'varchar',
    'segment': 'varchar',
    'arr': 'double',
    'plan': 'varchar',
    'seats_purchased': 'integer',
    'csm_id': 'varchar',
    'created_at': 'timestamp'
}) }}
