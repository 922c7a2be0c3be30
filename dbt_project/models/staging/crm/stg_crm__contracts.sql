{{ cdc_current_state('crm', 'contracts', {
    'contract_id': 'varchar',
    'account_id': 'varchar',
    'start_date': 'date',
    'renewal_date': 'date',
    'arr': 'double',
    'status': 'varchar',
    'cancelled_at': 'timestamp'
}) }}
