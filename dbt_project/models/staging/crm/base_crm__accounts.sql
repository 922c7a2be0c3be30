-- Latest change per key of crm.accounts, kept incrementally (deletes as is_deleted rows).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    post_hook="{{ drop_superseded_changes('crm', 'accounts') }}"
) }}
{{ cdc_latest_changes('crm', 'accounts', {
    'account_id': 'varchar',
    'name': 'varchar',
    'segment': 'varchar',
    'arr': 'double',
    'plan': 'varchar',
    'seats_purchased': 'integer',
    'csm_id': 'varchar',
    'created_at': 'timestamp'
}) }}
