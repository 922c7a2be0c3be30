-- Latest change per key of crm.contacts, kept incrementally (deletes as is_deleted rows).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    post_hook="{{ drop_superseded_changes('crm', 'contacts') }}"
) }}
{{ cdc_latest_changes('crm', 'contacts', {
    'contact_id': 'varchar',
    'account_id': 'varchar',
    'email': 'varchar',
    'role': 'varchar',
    'is_champion': 'boolean',
    'is_exec_sponsor': 'boolean',
    'left_at': 'timestamp'
}) }}
