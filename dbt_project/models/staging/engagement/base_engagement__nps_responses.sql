-- Latest change per key of engagement.nps_responses, kept incrementally (deletes as is_deleted rows).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    post_hook="{{ drop_superseded_changes('engagement', 'nps_responses') }}"
) }}
{{ cdc_latest_changes('engagement', 'nps_responses', {
    'response_id': 'varchar',
    'survey_id': 'varchar',
    'account_id': 'varchar',
    'contact_id': 'varchar',
    'score': 'integer',
    'comment': 'varchar',
    'responded_at': 'timestamp'
}) }}
