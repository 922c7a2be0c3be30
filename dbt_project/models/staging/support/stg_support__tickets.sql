{{ cdc_current_state('support', 'tickets', {
    'ticket_id': 'varchar',
    'account_id': 'varchar',
    'contact_id': 'varchar',
    'created_at': 'timestamp',
    'closed_at': 'timestamp',
    'priority': 'varchar',
    'is_escalated': 'boolean',
    'subject': 'varchar',
    'body': 'varchar',
    'csat': 'integer'
}) }}
