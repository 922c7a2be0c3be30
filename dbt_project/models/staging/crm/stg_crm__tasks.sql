{{ cdc_current_state('crm', 'tasks', {
    'task_id': 'varchar',
    'alert_id': 'varchar',
    'account_id': 'varchar',
    'owner_id': 'varchar',
    'subject': 'varchar',
    'status': 'varchar',
    'outcome': 'varchar',
    'created_at': 'timestamp',
    'updated_at': 'timestamp'
}) }}
