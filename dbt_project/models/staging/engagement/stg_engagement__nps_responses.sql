{{ cdc_current_state('engagement', 'nps_responses', {
    'response_id': 'varchar',
    'survey_id': 'varchar',
    'account_id': 'varchar',
    'contact_id': 'varchar',
    'score': 'integer',
    'comment': 'varchar',
    'responded_at': 'timestamp'
}) }}
