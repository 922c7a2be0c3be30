-- What an incremental run recomputes: per account, the first day to rebuild (recompute_from),
-- and the first day whose product usage facts change (usage_recompute_from; null when none do:
-- only events and contacts feed them, so a ticket update does not re-aggregate usage).
--   changed: the account's changes are in the batch; from the earliest day they touch (with
--     churn by inactivity, never later than the day after its rows end, so an account that had
--     gone inactive and came back gets its missing days);
--   rolled: the data clock moved on; from the first new day, for every account, so that an
--     account that went quiet is noticed too.
-- The signal marts are rebuilt one `part` at a time (macros/parts.sql): whole accounts, in
-- account order, at most var('signals_part_account_days') account-days each (the rebuilt days
-- and the 89 read before them), so that their windows fit in memory at any history length.
{%- set built = built_signals_relation() %}
with pending as (
    select * from {{ ref('int_pending_changes') }}
),

clock as (
    select * from {{ ref('stg_cdc__clock') }}
),

accounts as (
    select account_id from {{ ref('stg_crm__accounts') }}
),

built_until as (
    {%- if built is none %}
    select cast(null as varchar) as account_id, cast(null as date) as last_signal_date
    where false
    {%- else %}
    select account_id, max(signal_date) as last_signal_date
    from {{ built }}
    group by account_id
    {%- endif %}
),

previous_clock as (
    -- the data clock's day the last committed run built every account up to
    select max(as_of_date) as previous_as_of_date from {{ source('ops', 'processed_clock') }}
),

changed as (
    select
        pending.account_id,
        greatest(min(pending.affected_date), min(clock.first_date)) as recompute_from,
        -- null when no event or contact changed (greatest() would skip the null)
        case
            when bool_or(pending.source_table in ('events', 'contacts')) then greatest(
                min(pending.affected_date) filter (where pending.source_table in ('events', 'contacts')),
                min(clock.first_date)
            )
        end as usage_recompute_from,
        bool_or(pending.source_table = 'events') as has_events
    from pending
    cross join clock
    where pending.account_id is not null
    group by pending.account_id
),

changed_with_gaps as (
    select
        changed.account_id,
        {%- if var('churn_definition') == 'inactivity' %}
        case
            when changed.has_events and built_until.last_signal_date is not null
                then least(changed.recompute_from, {{ dbt.dateadd('day', 1, 'built_until.last_signal_date') }})
            else changed.recompute_from
        end as recompute_from,
        {%- else %}
        changed.recompute_from,
        {%- endif %}
        changed.usage_recompute_from
    from changed
    left join built_until on changed.account_id = built_until.account_id
),

rolled as (
    select
        accounts.account_id,
        coalesce(
            {{ dbt.dateadd('day', 1, 'previous_clock.previous_as_of_date') }}, clock.first_date
        ) as recompute_from
    from accounts
    cross join clock
    cross join previous_clock
    where previous_clock.previous_as_of_date is null or clock.as_of_date > previous_clock.previous_as_of_date
),

final as (
    {%- if flags.FULL_REFRESH %}
    -- a full refresh rebuilds every account from the start of the data
    select accounts.account_id, clock.first_date as recompute_from, clock.first_date as usage_recompute_from,
        true as has_changes
    from accounts
    cross join clock
    {%- else %}
    select
        account_id,
        cast(min(recompute_from) as date) as recompute_from,
        cast(min(usage_recompute_from) as date) as usage_recompute_from,
        bool_or(has_changes) as has_changes
    from (
        select account_id, recompute_from, usage_recompute_from, true as has_changes from changed_with_gaps
        union all
        select account_id, recompute_from, null as usage_recompute_from, false as has_changes from rolled
    ) as candidates
    group by account_id
    {%- endif %}
),

sized as (
    select
        final.*,
        {{ dbt.datediff(
            'greatest(' ~ dbt.dateadd('day', -89, 'final.recompute_from') ~ ', clock.first_date)',
            'clock.as_of_date', 'day'
        ) }} + 1 as account_days
    from final
    cross join clock
),

parted as (
    select
        account_id,
        recompute_from,
        usage_recompute_from,
        has_changes,
        {{ build_part('account_id', 'account_days') }} as part
    from sized
)

select * from parted
