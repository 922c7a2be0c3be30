-- Accounts as they were on each day (segment, ARR, seats, CSM): what the daily signals use.
-- A table, not a view: the signal mart (a part of accounts at a time) reads it once per part, and a view
-- ranks and JSON-extracts every account change on each read (0.1–0.2 s a read at 100,000 accounts, 37
-- parts in a full build). Rebuilt whole each run: one pass over the account changes.
{{ config(materialized='table') }}
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
