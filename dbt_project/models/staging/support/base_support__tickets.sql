-- Latest change per key of support.tickets, kept incrementally (deletes as is_deleted rows).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    post_hook="{{ drop_superseded_changes('support', 'tickets') }}"
) }}
{{ cdc_latest_changes('support', 'tickets', {
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
