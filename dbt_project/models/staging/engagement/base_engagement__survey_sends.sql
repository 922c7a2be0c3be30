-- Latest change per key of engagement.survey_sends, kept incrementally (deletes as is_deleted rows).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    post_hook="{{ drop_superseded_changes('engagement', 'survey_sends') }}"
) }}
{{ cdc_latest_changes('engagement', 'survey_sends', {
    'survey_id': 'varchar',
    'account_id': 'varchar',
    'contact_id': 'varchar',
    'sent_at': 'timestamp'
}) }}
