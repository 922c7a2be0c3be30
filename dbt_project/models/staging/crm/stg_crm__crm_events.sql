{{ cdc_current_state('crm', 'crm_events', {
    'crm_event_id': 'varchar',
    'account_id': 'varchar',
    'kind': 'varchar',
    'event_at': 'timestamp'
}) }}
