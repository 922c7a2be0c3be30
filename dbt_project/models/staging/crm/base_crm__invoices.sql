-- Latest change per key of crm.invoices, kept incrementally (deletes as is_deleted rows).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    post_hook="{{ drop_superseded_changes('crm', 'invoices') }}"
) }}
{{ cdc_latest_changes('crm', 'invoices', {
    'invoice_id': 'varchar',
    'account_id': 'varchar',
    'due_date': 'date',
    'amount': 'double',
    'status': 'varchar',
    'event_at': 'timestamp'
}) }}
