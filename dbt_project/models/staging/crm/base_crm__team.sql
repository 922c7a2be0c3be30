-- Latest change per key of crm.team, kept incrementally (deletes as is_deleted rows).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    post_hook="{{ drop_superseded_changes('crm', 'team') }}"
) }}
{{ cdc_latest_changes('crm', 'team', {
    'member_id': 'varchar',
    'name': 'varchar',
    'email': 'varchar',
    'role': 'varchar',
    'manager_id': 'varchar',
    'timezone': 'varchar'
}) }}
