-- Every version of every invoice: a failure later paid is still a failure on its day.
{{ cdc_versions('crm', 'invoices', {
    'invoice_id': 'varchar',
    'account_id': 'varchar',
    'due_date': 'date',
    'amount': 'double',
    'status': 'varchar',
    'event_at': 'timestamp'
}) }}
