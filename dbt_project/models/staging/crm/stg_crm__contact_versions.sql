-- Contacts as they were on each day (champion and exec-sponsor flags): what usage signals use.
-- A table, not a view: int_usage_daily (a part of days at a time) reads it once per part, and a view
-- ranks and JSON-extracts every contact change on each read (37 parts in a full build at 100,000
-- accounts). Incremental: a run recomputes the versions of the contacts its batch changed.
-- depends_on: {{ ref('int_pending_changes') }}
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='cdc_key') }}
{{ cdc_daily_versions('crm', 'contacts', {
    'contact_id': 'varchar',
    'account_id': 'varchar',
    'email': 'varchar',
    'role': 'varchar',
    'is_champion': 'boolean',
    'is_exec_sponsor': 'boolean',
    'left_at': 'timestamp'
}) }}
