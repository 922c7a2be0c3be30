-- Latest change per key of crm.tasks, kept incrementally (deletes as is_deleted rows).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    post_hook="{{ drop_superseded_changes('crm', 'tasks') }}"
) }}
{{ cdc_latest_changes('crm', 'tasks', {
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
