{{ cdc_current_state('crm', 'team', {
    'member_id': 'varchar',
    'name': 'varchar',
    'email': 'varchar',
    'role': 'varchar',
    'manager_id': 'varchar',
    'timezone': 'varchar'
}) }}
