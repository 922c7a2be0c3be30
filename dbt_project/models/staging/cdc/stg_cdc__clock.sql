-- The data clock: the first and the latest source timestamps over every change table. The
-- pipeline's "now" is the latest change it has seen, so replayed and simulated worlds behave
-- like live ones and every run is deterministic.
-- A table, not a view like the rest of staging: one row, read by every part of the signal marts
-- and by the features view, and as a view each read scanned all the change tables (100 M rows at L).
{{ config(materialized='table') }}
with change_times as (
    {% for system in ['crm', 'support', 'product', 'engagement'] %}
    select
        min(source_ts) as first_at,
        max(source_ts) as last_at
    from {{ source('cdc', system ~ '_changes') }} as changes
    where {{ not_quarantined(system, 'changes') }}
    {% if not loop.last %}union all{% endif %}
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
