{{ cdc_current_state('engagement', 'survey_sends', {
    'survey_id': 'varchar',
    'account_id': 'varchar',
    'contact_id': 'varchar',
    'sent_at': 'timestamp'
}) }}
