-- One row per account per day with all four signal families: daily facts and the trailing
-- windows the alert rules and the model read. Every value at signal_date uses only data dated
-- on or before signal_date, and account attributes as they were that day.
--
-- Incremental: a run deletes and rebuilds, per account in int_recompute_scope, the days from
-- recompute_from on. They are computed from the daily facts of the 89 days before (the longest
-- window is 90 days); values carried forward without a window (the last NPS answer, the last
-- login) are seeded from the row kept just before the rebuilt range. A full refresh is the
-- same with every account in scope from the first day. The scope is built one part of whole
-- accounts at a time (macros/parts.sql), so the windows below hold one part in memory.
-- Every trailing value is a sum, a mean, the latest non-null or the account's days over a frame of
-- days, listed once below (`trailing`): distinct counts too (active users, core features), which as
-- lists of values over windows took two thirds of this model's time. Windows compute them on a full
-- refresh and for long rebuilt ranges, over a dense daily spine; a short range aggregates, for each
-- rebuilt day, the sources' own rows it looks back at (see aggregated_accounts).
-- depends_on: {{ ref('int_recompute_scope') }}
-- depends_on: {{ ref('stg_cdc__clock') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=["{{ set_build_part(0) }}", "{{ delete_recompute_scope('signal_date') }}"],
    post_hook="{{ build_remaining_parts() }}"
) }}
{%- set lookback_days = 89 %}
{#- each account's own longer normal: the last 28 days against the 62 days before them #}
{%- set trend_metrics = ['logins', 'session_minutes', 'core_feature_uses', 'team_active_users'] %}
{#- the trailing frames, in days before the day: (first, last); first none: every day read #}
{%- set frames = {
    'last_7_days': (6, 0), 'previous_7_days': (13, 7), 'last_14_days': (13, 0), 'last_28_days': (27, 0),
    'previous_28_days': (55, 28), 'last_30_days': (29, 0), 'last_90_days': (89, 0), 'all_before': (none, 0),
} %}
{#- every trailing value: (how: sum, avg, last (the latest non-null) or days (the account's days as a
    customer; of nothing); of what; over which frame; name) #}
{%- set trailing = [
    ('sum', 'logins', 'last_7_days', 'logins_7d'),
    ('sum', 'logins', 'previous_7_days', 'logins_prev_7d'),
    ('sum', 'team_active_users', 'last_7_days', 'team_active_user_days_7d'),
    ('sum', 'session_minutes', 'last_7_days', 'session_minutes_7d'),
    ('sum', 'core_feature_uses', 'last_7_days', 'core_feature_uses_7d'),
    ('sum', 'api_calls', 'last_7_days', 'api_calls_7d'),
    ('sum', 'api_errors', 'last_7_days', 'api_errors_7d'),
    ('avg', 'api_latency_p95_ms', 'last_7_days', 'api_latency_p95_ms_7d'),
    ('sum', 'case when champion_active then 1 else 0 end', 'last_14_days', 'champion_active_days_14d'),
    ('sum', 'case when sponsor_active then 1 else 0 end', 'last_28_days', 'sponsor_active_days_28d'),
    ('last', 'login_date', 'all_before', 'last_login_date'),
    ('sum', 'tickets_opened', 'last_7_days', 'tickets_7d'),
    ('sum', 'tickets_opened', 'last_28_days', 'tickets_28d'),
    ('sum', 'tickets_negative', 'last_7_days', 'tickets_negative_7d'),
    ('sum', 'tickets_negative', 'last_28_days', 'tickets_negative_28d'),
    ('sum', 'tickets_escalated', 'last_28_days', 'tickets_escalated_28d'),
    ('sum', 'tickets_repeat', 'last_28_days', 'tickets_repeat_28d'),
    ('sum', 'ticket_sentiment_sum', 'last_28_days', 'ticket_sentiment_sum_28d'),
    ('last', 'nps_score_day_last', 'all_before', 'nps_score_last'),
    ('last', 'nps_score_day_previous', 'all_before', 'nps_score_previous'),
    ('sum', 'surveys_sent', 'last_90_days', 'surveys_sent_90d'),
    ('sum', 'nps_responses', 'last_90_days', 'survey_responses_90d'),
    ('sum', 'payment_failures', 'last_30_days', 'payment_failures_30d'),
    ('sum', 'cancellation_requests', 'last_90_days', 'cancellation_requests_90d'),
    ('sum', 'procurement_freezes', 'last_90_days', 'procurement_freezes_90d'),
    ('sum', 'budget_owner_changes', 'last_90_days', 'budget_owner_changes_90d'),
    ('sum', 'champion_departures', 'last_90_days', 'champion_departures_90d'),
    ('sum', 'sponsor_departures', 'last_90_days', 'sponsor_departures_90d'),
    ('sum', 'active_users_change', 'all_before', 'active_users_7d'),
    ('days', none, 'last_90_days', 'days_90d'),
] %}
{%- for feature in var('core_features') %}
{%- do trailing.append(('sum', 'core_feature_' ~ loop.index ~ '_used', 'last_28_days', 'core_feature_' ~ loop.index ~ '_days_28d')) %}
{%- do trailing.append(('sum', 'core_feature_' ~ loop.index ~ '_used', 'previous_28_days', 'core_feature_' ~ loop.index ~ '_days_prev_28d')) %}
{%- endfor %}
{%- for metric in trend_metrics %}
{%- do trailing.append(('sum', metric, 'last_28_days', metric ~ '_28d')) %}
{%- do trailing.append(('sum', metric, 'last_90_days', metric ~ '_90d')) %}
{%- endfor %}
{#- rebuilt ranges up to this many days are aggregated instead of windowed (see aggregated_accounts) #}
{%- set aggregate_days_at_most = 3 %}
with scope as (
    select * from {{ ref('int_recompute_scope') }}
    where part = {{ current_part() }}
),

clock as (
    select * from {{ ref('stg_cdc__clock') }}
),

-- The part's accounts with their span as customers. An account whose rebuilt days are few (the
-- day's roll, a batch within the day) is aggregated: each rebuilt day sums the sources' rows it
-- looks back at. Windows would compute every one of the 90 days read before the range too, over a
-- dense spine joined to every source (at 100,000 accounts, ~80,000 of them live, the roll's mart
-- spent most of its time joining 7.2 M account-days), and cost as much per row. Longer ranges keep
-- the windows.
scope_spans as (
    select
        scope.account_id,
        scope.recompute_from,
        spans.first_day,
        spans.last_day,
        {%- if is_incremental() %}
        scope.recompute_from >= {{ dbt.dateadd('day', -(aggregate_days_at_most - 1), 'clock.as_of_date') }}
        {%- else %}
        false
        {%- endif %} as is_aggregated
    from scope
    inner join {{ ref('int_account_spans') }} as spans on scope.account_id = spans.account_id
    cross join clock
),

days as (
    {{ day_spine(
        '(select first_date from ' ~ ref('stg_cdc__clock') ~ ')',
        '(select as_of_date from ' ~ ref('stg_cdc__clock') ~ ')'
    ) }}
),

-- the dense daily spine of the part's accounts: each day they were customers, from the 89 days
-- before recompute_from (an aggregated account: from recompute_from)
account_days as (
    select scope_spans.account_id, days.day as signal_date
    from scope_spans
    inner join days
        on days.day >= scope_spans.first_day
        and days.day <= scope_spans.last_day
        and (
            days.day >= scope_spans.recompute_from
            or (
                not scope_spans.is_aggregated
                and days.day >= {{ dbt.dateadd('day', -lookback_days, 'scope_spans.recompute_from') }}
            )
        )
),

account_versions as (
    select * from {{ ref('stg_crm__account_versions') }}
    where not is_deleted
),

contracts as (
    select * from {{ ref('stg_crm__contracts') }}
),

usage as (
    select
        usage.*,
        case when usage.logins > 0 then usage.activity_date end as login_date,
        -- one flag per core feature (a short, configured list): distinct features over a window
        -- are then the features with a day in it
        {%- for feature in var('core_features') %}
        case when {{ list_has('usage.core_features_used_list', "'" ~ feature ~ "'") }} then 1 else 0 end
            as core_feature_{{ loop.index }}_used{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('int_usage_daily') }} as usage
    inner join scope
        on usage.account_id = scope.account_id
        and usage.activity_date >= {{ dbt.dateadd('day', -lookback_days, 'scope.recompute_from') }}
    -- constant bounds as well (the part's accounts; on a run, its first day), which skip the
    -- other row groups before the join
    where {{ in_part_accounts('usage.account_id') }}
    {%- if is_incremental() %}
        and usage.activity_date >= {{ scope_start(lookback_days) }}
    {%- endif %}
),

support as (
    select support.*
    from {{ ref('int_support_daily') }} as support
    inner join scope
        on support.account_id = scope.account_id
        and support.activity_date >= {{ dbt.dateadd('day', -lookback_days, 'scope.recompute_from') }}
    where {{ in_part_accounts('support.account_id') }}
    {%- if is_incremental() %}
        and support.activity_date >= {{ scope_start(lookback_days) }}
    {%- endif %}
),

engagement as (
    select engagement.*
    from {{ ref('int_engagement_daily') }} as engagement
    inner join scope
        on engagement.account_id = scope.account_id
        and engagement.activity_date >= {{ dbt.dateadd('day', -lookback_days, 'scope.recompute_from') }}
    where {{ in_part_accounts('engagement.account_id') }}
    {%- if is_incremental() %}
        and engagement.activity_date >= {{ scope_start(lookback_days) }}
    {%- endif %}
),

crm as (
    select crm.*
    from {{ ref('int_crm_daily') }} as crm
    inner join scope
        on crm.account_id = scope.account_id
        and crm.activity_date >= {{ dbt.dateadd('day', -lookback_days, 'scope.recompute_from') }}
    where {{ in_part_accounts('crm.account_id') }}
    {%- if is_incremental() %}
        and crm.activity_date >= {{ scope_start(lookback_days) }}
    {%- endif %}
),

renewals as (
    -- the contract in force on each day: [start_date, renewal_date)
    select
        account_days.account_id,
        account_days.signal_date,
        min(contracts.renewal_date) as renewal_date
    from account_days
    inner join contracts
        on account_days.account_id = contracts.account_id
        and contracts.start_date <= account_days.signal_date
        and contracts.renewal_date > account_days.signal_date
    group by account_days.account_id, account_days.signal_date
),

-- Distinct users over the last 7 days without holding lists in a window: each user counts from
-- the first day of a run of days less than 7 apart until 7 days after its last day, so the count
-- is a running sum of +1 where runs start and -1 where they end. Only the 6 days before a day
-- decide whether a user counts on it, so the users are read from 6 days before the rebuilt range,
-- not from the 89 the other windows need: a run cut there starts there, and the sum on each
-- rebuilt day is still the users of its last 7 days (a day's roll unnested 90 days of user lists).
user_days as (
    select usage.account_id, usage.activity_date, {{ list_elements('usage.active_user_ids') }} as user_id
    from {{ ref('int_usage_daily') }} as usage
    inner join scope_spans
        on usage.account_id = scope_spans.account_id
        and usage.activity_date >= {{ dbt.dateadd('day', -6, 'scope_spans.recompute_from') }}
        and usage.activity_date >= scope_spans.first_day
        and usage.activity_date <= scope_spans.last_day
    where {{ in_part_accounts('usage.account_id') }}
    {%- if is_incremental() %}
        and usage.activity_date >= {{ scope_start(6) }}
    {%- endif %}
),

user_runs as (
    select
        account_id,
        activity_date,
        lag(activity_date) over same_user as previous_date,
        lead(activity_date) over same_user as next_date
    from user_days
    window same_user as (partition by account_id, user_id order by activity_date)
),

active_user_changes as (
    select account_id, signal_date, sum(change) as active_users_change
    from (
        select account_id, activity_date as signal_date, 1 as change
        from user_runs
        where previous_date is null or activity_date >= {{ dbt.dateadd('day', 7, 'previous_date') }}
        union all
        select account_id, cast({{ dbt.dateadd('day', 7, 'activity_date') }} as date) as signal_date, -1 as change
        from user_runs
        where next_date is null or next_date >= {{ dbt.dateadd('day', 7, 'activity_date') }}
    ) as changes
    group by account_id, signal_date
),

daily as (
    select
        account_days.account_id,
        account_days.signal_date,
        false as is_seed,
        -- the account that day
        account_versions.segment,
        account_versions.arr,
        account_versions.seats_purchased,
        account_versions.csm_id,
        account_versions.created_at,
        -- usage
        coalesce(usage.events_total, 0) as events_total,
        coalesce(usage.active_users, 0) as active_users,
        coalesce(usage.team_active_users, 0) as team_active_users,
        coalesce(usage.logins, 0) as logins,
        usage.login_date,
        coalesce(usage.sessions, 0) as sessions,
        coalesce(usage.session_minutes, 0) as session_minutes,
        coalesce(usage.core_feature_uses, 0) as core_feature_uses,
        {{ list_size('usage.core_features_used_list') }} as core_features_used,
        {%- for feature in var('core_features') %}
        coalesce(usage.core_feature_{{ loop.index }}_used, 0) as core_feature_{{ loop.index }}_used,
        {%- endfor %}
        coalesce(active_user_changes.active_users_change, 0) as active_users_change,
        coalesce(usage.api_calls, 0) as api_calls,
        coalesce(usage.api_errors, 0) as api_errors,
        usage.api_latency_p95_ms,
        coalesce(usage.champion_active, false) as champion_active,
        coalesce(usage.sponsor_active, false) as sponsor_active,
        -- support
        coalesce(support.tickets_opened, 0) as tickets_opened,
        coalesce(support.tickets_escalated, 0) as tickets_escalated,
        coalesce(support.tickets_negative, 0) as tickets_negative,
        coalesce(support.tickets_repeat, 0) as tickets_repeat,
        coalesce(support.ticket_sentiment_sum, 0) as ticket_sentiment_sum,
        -- engagement
        coalesce(engagement.surveys_sent, 0) as surveys_sent,
        coalesce(engagement.nps_responses, 0) as nps_responses,
        engagement.nps_score_day_last,
        engagement.nps_score_day_previous,
        -- crm
        coalesce(crm.payment_failures, 0) as payment_failures,
        coalesce(crm.cancellation_requests, 0) as cancellation_requests,
        coalesce(crm.procurement_freezes, 0) as procurement_freezes,
        coalesce(crm.budget_owner_changes, 0) as budget_owner_changes,
        coalesce(crm.champion_departures, 0) as champion_departures,
        coalesce(crm.sponsor_departures, 0) as sponsor_departures,
        renewals.renewal_date
    from account_days
    left join account_versions
        on account_days.account_id = account_versions.account_id
        and account_days.signal_date >= account_versions.valid_from_date
        and (account_versions.valid_to_date is null or account_days.signal_date < account_versions.valid_to_date)
    left join usage
        on account_days.account_id = usage.account_id and account_days.signal_date = usage.activity_date
    left join support
        on account_days.account_id = support.account_id and account_days.signal_date = support.activity_date
    left join engagement
        on account_days.account_id = engagement.account_id and account_days.signal_date = engagement.activity_date
    left join crm
        on account_days.account_id = crm.account_id and account_days.signal_date = crm.activity_date
    left join renewals
        on account_days.account_id = renewals.account_id and account_days.signal_date = renewals.signal_date
    left join active_user_changes
        on account_days.account_id = active_user_changes.account_id
        and account_days.signal_date = active_user_changes.signal_date
),

{% if is_incremental() %}
seeds as (
    -- what the kept row just before the rebuilt range carries forward, placed before the range
    select
        built.account_id,
        cast({{ dbt.dateadd('day', -(lookback_days + 1), 'scope.recompute_from') }} as date) as signal_date,
        true as is_seed,
        built.last_login_date as login_date,
        built.nps_score_last as nps_score_day_last,
        built.nps_score_previous as nps_score_day_previous
    from {{ this }} as built
    inner join scope
        on built.account_id = scope.account_id
        and built.signal_date = {{ dbt.dateadd('day', -1, 'scope.recompute_from') }}
    where {{ in_part_accounts('built.account_id') }}
),

with_seeds as (
    select * from daily
    {{ union_all_by_name() }}
    select * from seeds
),
{% else %}
with_seeds as (
    select * from daily
),
{% endif %}

{% if is_incremental() %}
aggregated_accounts as (
    select account_id from scope_spans where is_aggregated
),

rebuilt_days as (
    select with_seeds.account_id, with_seeds.signal_date as rebuilt_day, scope_spans.first_day
    from with_seeds
    inner join scope_spans
        on with_seeds.account_id = scope_spans.account_id
        and with_seeds.signal_date >= scope_spans.recompute_from
    where not with_seeds.is_seed and scope_spans.is_aggregated
),

-- What the aggregated accounts' rebuilt days look back at: each source's rows as they are, on the
-- account's days as a customer (a day without a row adds nothing to a sum; `days` below counts the
-- days a frame holds), and the seed.
facts as (
    select usage.*, usage.activity_date as signal_date from usage
    {{ union_all_by_name() }}
    select support.*, support.activity_date as signal_date from support
    {{ union_all_by_name() }}
    select engagement.*, engagement.activity_date as signal_date from engagement
    {{ union_all_by_name() }}
    select crm.*, crm.activity_date as signal_date from crm
    {{ union_all_by_name() }}
    select active_user_changes.* from active_user_changes
),

history as (
    select facts.*
    from facts
    inner join scope_spans
        on facts.account_id = scope_spans.account_id
        and facts.signal_date >= scope_spans.first_day
        and facts.signal_date <= scope_spans.last_day
    where scope_spans.is_aggregated
    {{ union_all_by_name() }}
    select seeds.*
    from seeds
    where seeds.account_id in (select account_id from aggregated_accounts)
),

looked_back as (
    select
        rebuilt_days.rebuilt_day,
        rebuilt_days.first_day,
        {{ dbt.datediff('history.signal_date', 'rebuilt_days.rebuilt_day', 'day') }} as days_back,
        history.*
    from rebuilt_days
    inner join history
        on history.account_id = rebuilt_days.account_id
        and history.signal_date <= rebuilt_days.rebuilt_day
),

aggregated as (
    select
        account_id,
        rebuilt_day as signal_date,
        {%- for how, value, frame, name in trailing %}
        {%- set first, last = frames[frame] %}
        {%- set within = 'days_back >= ' ~ last ~ ((' and days_back <= ' ~ first) if first is not none else '') %}
        {#- the account's days in the frame: from its first day or the frame's, to the frame's last #}
        {%- set frame_start = 'first_day' if first is none
            else 'greatest(first_day, ' ~ dbt.dateadd('day', -first, 'rebuilt_day') ~ ')' %}
        {%- set frame_days = 'greatest(' ~ dbt.datediff(frame_start, 'rebuilt_day', 'day') ~ ' - ' ~ last ~ ' + 1, 0)' %}
        {%- if how == 'last' %}
        {{ last_non_null(value, 'signal_date', within) }} as {{ name }}{{ ',' if not loop.last }}
        {%- elif how == 'days' %}
        {{ frame_days }} as {{ name }}{{ ',' if not loop.last }}
        {%- elif how == 'sum' %}
        -- over days without a source row, 0; over a frame without days, null (as windows give)
        case when {{ frame_days }} > 0 then coalesce(sum({{ value }}) filter (where {{ within }}), 0) end
            as {{ name }}{{ ',' if not loop.last }}
        {%- else %}
        {{ how }}({{ value }}) filter (where {{ within }}) as {{ name }}{{ ',' if not loop.last }}
        {%- endif %}
        {%- endfor %}
    from looked_back
    group by account_id, rebuilt_day, first_day
),

windowed_by_aggregation as (
    select
        with_seeds.*,
        {%- for how, value, frame, name in trailing %}
        aggregated.{{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from with_seeds
    inner join aggregated
        on with_seeds.account_id = aggregated.account_id and with_seeds.signal_date = aggregated.signal_date
),
{% endif %}

windowed_by_windows as (
    select
        *,
        {%- for how, value, frame, name in trailing %}
        {%- if how == 'last' %}
        last_value({{ value }} ignore nulls) over {{ frame }} as {{ name }}{{ ',' if not loop.last }}
        {%- elif how == 'days' %}
        sum(case when is_seed then 0 else 1 end) over {{ frame }} as {{ name }}{{ ',' if not loop.last }}
        {%- else %}
        {{ how }}({{ value }}) over {{ frame }} as {{ name }}{{ ',' if not loop.last }}
        {%- endif %}
        {%- endfor %}
    from with_seeds
    {%- if is_incremental() %}
    where account_id not in (select account_id from aggregated_accounts)
    {%- endif %}
    window
        {%- for frame, bounds in frames.items() %}
        {%- set first, last = bounds %}
        {{ frame }} as (
            partition by account_id order by signal_date
            rows between {{ (first ~ ' preceding') if first is not none else 'unbounded preceding' }}
                and {{ (last ~ ' preceding') if last else 'current row' }}
        ){{ ',' if not loop.last }}
        {%- endfor %}
),

windowed as (
    select * from windowed_by_windows
    {%- if is_incremental() %}
    union all
    select * from windowed_by_aggregation
    {%- endif %}
),

final as (
    select
        windowed.account_id,
        windowed.signal_date,
        -- the account that day
        windowed.segment,
        windowed.arr,
        windowed.seats_purchased,
        windowed.csm_id,
        {{ dbt.datediff('windowed.created_at', 'windowed.signal_date', 'day') }} as tenure_days,
        -- usage: the day
        windowed.events_total,
        windowed.active_users,
        windowed.logins,
        windowed.sessions,
        windowed.session_minutes,
        windowed.core_feature_uses,
        windowed.core_features_used,
        windowed.api_calls,
        windowed.api_errors,
        windowed.api_latency_p95_ms,
        windowed.champion_active,
        windowed.sponsor_active,
        -- usage: trailing windows
        cast(windowed.logins_7d as bigint) as logins_7d,
        cast(windowed.logins_prev_7d as bigint) as logins_prev_7d,
        1.0 * windowed.logins_7d / nullif(windowed.logins_prev_7d, 0) - 1 as logins_wow_change,
        cast(windowed.active_users_7d as bigint) as active_users_7d,
        cast(windowed.team_active_user_days_7d as bigint) as team_active_user_days_7d,
        1.0 * windowed.active_users_7d / nullif(windowed.seats_purchased, 0) as seat_utilisation,
        windowed.session_minutes_7d,
        cast(windowed.core_feature_uses_7d as bigint) as core_feature_uses_7d,
        cast(
        {%- for feature in var('core_features') %}
        case when windowed.core_feature_{{ loop.index }}_days_28d > 0 then 1 else 0 end {{ '+' if not loop.last }}
        {%- endfor %}
            as bigint) as core_features_used_28d,
        cast(
        {%- for feature in var('core_features') %}
        case when windowed.core_feature_{{ loop.index }}_days_prev_28d > 0
            and windowed.core_feature_{{ loop.index }}_days_28d = 0 then 1 else 0 end {{ '+' if not loop.last }}
        {%- endfor %}
            as bigint) as core_features_abandoned_28d,
        cast(windowed.logins_28d as bigint) as logins_28d,
        1.0 * windowed.logins_28d / nullif(windowed.seats_purchased, 0) as logins_per_seat_28d,
        {%- for metric in trend_metrics %}
        -- per day over the last 28 days vs the 62 days before; null until those 62 days exist
        case when windowed.days_90d = 90 then
            (1.0 * windowed.{{ metric }}_28d / 28)
            / nullif(1.0 * (windowed.{{ metric }}_90d - windowed.{{ metric }}_28d) / 62, 0) - 1
        end as {{ metric }}_28d_vs_prior_62d,
        {%- endfor %}
        cast(windowed.api_calls_7d as bigint) as api_calls_7d,
        1.0 * windowed.api_errors_7d / nullif(windowed.api_calls_7d, 0) as api_error_rate_7d,
        windowed.api_latency_p95_ms_7d,
        cast(windowed.champion_active_days_14d as bigint) as champion_active_days_14d,
        cast(windowed.sponsor_active_days_28d as bigint) as sponsor_active_days_28d,
        windowed.last_login_date,
        {{ dbt.datediff('windowed.last_login_date', 'windowed.signal_date', 'day') }} as days_since_last_login,
        -- support
        windowed.tickets_opened,
        windowed.tickets_escalated,
        windowed.tickets_negative,
        cast(windowed.tickets_7d as bigint) as tickets_7d,
        cast(windowed.tickets_28d as bigint) as tickets_28d,
        cast(windowed.tickets_negative_7d as bigint) as tickets_negative_7d,
        cast(windowed.tickets_negative_28d as bigint) as tickets_negative_28d,
        cast(windowed.tickets_escalated_28d as bigint) as tickets_escalated_28d,
        cast(windowed.tickets_repeat_28d as bigint) as tickets_repeat_28d,
        1.0 * windowed.ticket_sentiment_sum_28d / nullif(windowed.tickets_28d, 0) as ticket_sentiment_avg_28d,
        -- engagement
        windowed.nps_responses,
        windowed.nps_score_last,
        windowed.nps_score_previous,
        windowed.nps_score_last - windowed.nps_score_previous as nps_change,
        cast(windowed.surveys_sent_90d as bigint) as surveys_sent_90d,
        cast(windowed.survey_responses_90d as bigint) as survey_responses_90d,
        least(1.0 * windowed.survey_responses_90d / nullif(windowed.surveys_sent_90d, 0), 1.0)
            as survey_response_rate_90d,
        -- crm
        windowed.payment_failures,
        cast(windowed.payment_failures_30d as bigint) as payment_failures_30d,
        windowed.cancellation_requests,
        cast(windowed.cancellation_requests_90d as bigint) as cancellation_requests_90d,
        windowed.procurement_freezes,
        cast(windowed.procurement_freezes_90d as bigint) as procurement_freezes_90d,
        windowed.budget_owner_changes,
        cast(windowed.budget_owner_changes_90d as bigint) as budget_owner_changes_90d,
        windowed.champion_departures,
        cast(windowed.champion_departures_90d as bigint) as champion_departures_90d,
        windowed.sponsor_departures,
        cast(windowed.sponsor_departures_90d as bigint) as sponsor_departures_90d,
        windowed.renewal_date,
        {{ dbt.datediff('windowed.signal_date', 'windowed.renewal_date', 'day') }} as days_to_renewal
    from windowed
    inner join scope
        on windowed.account_id = scope.account_id
        and windowed.signal_date >= scope.recompute_from
    where not windowed.is_seed
)

-- Each part written in date order: its row groups then hold a few weeks each, so reads of recent
-- days (the live alert frame, the newest features) skip the older ones by their zone maps. A part
-- is whole accounts already; sorting one took no measurable time alone (docs/scale-history.md, ⁷).
select * from final
order by signal_date, account_id
