-- The data clock: the first and the latest source timestamps of the change rows processed, by the
-- runs before (kept in ops.processed_times when their batch was marked processed) and by this
-- run's batch. The pipeline's "now" is the latest change it has seen, so replayed and simulated
-- worlds behave like live ones and every run is deterministic; and a run reads the times of its
-- batch's rows only, not of the whole history.
-- The batch's rows are read as the span of its seqs: the processed rows inside it are in
-- ops.processed_times already, and a join with its ranges cost 30 s on a full refresh at L. Rows
-- the screen refused are left out by an outer join: `not exists` with the seq condition beside it
-- ran out of memory in DuckDB at 85 M rows (healthwatch.warehouse.kept_changes_sql).
-- A table, not a view like the rest of staging: one row, read by every part of the signal marts
-- and by the features view.
{{ config(materialized='table') }}
with change_times as (
    select
        first_ts as first_at,
        last_ts as last_at
    from {{ source('ops', 'processed_times') }}
    {% for system in ['crm', 'support', 'product', 'engagement'] %}
    {%- set first_seq = batch_first_seq(system) %}
    union all
    select
        min(changes.source_ts) as first_at,
        max(changes.source_ts) as last_at
    from {{ source('cdc', system ~ '_changes') }} as changes
    left join {{ source('quarantine', system ~ '_changes') }} as refused
        on changes.seq = refused.seq and changes.ingested_at = refused.ingested_at
    where refused.seq is null
        {%- if first_seq is none %}
        and 1 = 0
        {%- else %}
        and changes.seq between {{ first_seq }} and {{ batch_last_seq(system) }}
        {%- endif %}
    {% endfor %}
),

final as (
    select
        cast(min(first_at) as date) as first_date,
        cast(max(last_at) as date) as as_of_date,
        max(last_at) as as_of_at
    from change_times
)

select * from final
