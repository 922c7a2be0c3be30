-- Accounts as they were on each day (segment, ARR, seats, CSM): what the daily signals use.
-- A table, not a view: the signal mart (a part of accounts at a time) reads it once per part, and a view
-- ranks and JSON-extracts every account change on each read (37 parts in a full build at 100,000
-- accounts). Incremental: a run recomputes the versions of the accounts its batch changed.
-- depends_on: {{ ref('int_pending_changes') }}
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='cdc_key') }}
{{ cdc_daily_versions('crm', 'accounts', {
    'account_id': 'varchar',
    'name': 'varchar',
    'segment': 'varchar',
    'arr': 'double',
    'plan': 'varchar',
    'seats_purchased': 'integer',
    'csm_id': 'varchar',
    'created_at': 'timestamp'
}) }}
