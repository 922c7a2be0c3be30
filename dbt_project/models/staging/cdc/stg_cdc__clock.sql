-- The data clock: the first and the latest source timestamps of the change rows processed, by the
-- runs before (kept in ops.processed_times when their batch was marked processed) and by this
-- run's batch. The pipeline's "now" is the latest change it has seen, so replayed and simulated
-- worlds behave like live ones and every run is deterministic; and a run reads the times of its
-- batch's rows only, not of the whole history.
-- A table, not a view like the rest of staging: one row, read by every part of the signal marts
-- and by the features view.
{{ config(materialized='table') }}
with change_times as (
    select
        first_ts as first_at,
        last_ts as last_at
    from {{ source('ops', 'processed_times') }}
    {% for system in ['crm', 'support', 'product', 'engagement'] %}
    union all
    select
        min(source_ts) as first_at,
        max(source_ts) as last_at
    from {{ cdc_changes(system, batch_only=true) }} as changes
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
