{{ cdc_current_state('crm', 'contacts', {
    'contact_id': 'varchar',
    'account_id': 'varchar',
    'email': 'varchar',
    'role': 'varchar',
    'is_champion': 'boolean',
    'is_exec_sponsor': 'boolean',
    'left_at': 'timestamp'
}) }}
