-- Contacts as they were on each day (champion and exec-sponsor flags): what usage signals use.
{{ cdc_daily_versions('crm', 'contacts', {
    'contact_id': 'varchar',
    'account_id': 'varchar',
    'email': 'varchar',
    'role': 'varchar',
    'is_champion': 'boolean',
    'is_exec_sponsor': 'boolean',
    'left_at': 'timestamp'
}) }}
