-- Latest change per key of crm.contracts, kept incrementally (deletes as is_deleted rows).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    post_hook="{{ drop_superseded_changes('crm', 'contracts') }}"
) }}
{{ cdc_latest_changes('crm', 'contracts', {
    'contract_id': 'varchar',
    'account_id': 'varchar',
    'start_date': 'date',
    'renewal_date': 'date',
    'arr': 'double',
    'status': 'varchar',
    'cancelled_at': 'timestamp'
}) }}
