{{ cdc_current_state('crm', 'invoices', {
    'invoice_id': 'varchar',
    'account_id': 'varchar',
    'due_date': 'date',
    'amount': 'double',
    'status': 'varchar',
    'event_at': 'timestamp'
}) }}
