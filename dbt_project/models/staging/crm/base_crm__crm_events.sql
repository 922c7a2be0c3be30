-- Latest change per key of crm.crm_events, kept incrementally (deletes as is_deleted rows).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    post_hook="{{ drop_superseded_changes('crm', 'crm_events') }}"
) }}
{{ cdc_latest_changes('crm', 'crm_events', {
    'crm_event_id': 'varchar',
    'account_id': 'varchar',
    'kind': 'varchar',
    'event_at': 'timestamp'
}) }}
