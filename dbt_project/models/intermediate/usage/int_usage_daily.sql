-- Product usage per account per day, with the day's distinct users and core features as lists
-- (so trailing windows can count distinct values). Incremental: a run rebuilds each account's
-- days from its usage_recompute_from (the first day its events or contacts changed). Built in
-- parts of consecutive days (macros/parts.sql: usage_parts), so its memory does not grow with
-- the history.
-- depends_on: {{ ref('int_recompute_scope') }}
-- depends_on: {{ ref('stg_cdc__clock') }}
{%- set usage = usage_parts() %}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=["{{ set_build_part(0) }}", "{{ delete_recompute_scope('activity_date', 'usage_recompute_from') }}"],
    post_hook="{{ build_remaining_parts(usage_parts().parts - 1) }}"
) }}
{%- set core_features = "'" ~ (var('core_features') | join("', '")) ~ "'" %}
{%- set core_feature_names = [] %}
{%- for feature in var('core_features') %}
    {%- do core_feature_names.append("case when bool_or(used_core_feature_" ~ loop.index ~ ") then '" ~ feature ~ "' end") %}
{%- endfor %}
with events as (
    select * from {{ ref('stg_product__events') }}
    where not is_deleted
    {%- if is_incremental() %}
        and ts >= cast({{ scope_start(0, 'usage_recompute_from') }} as timestamp)
    {%- endif %}
        and {{ usage_part_filter(usage, 'ts') }}
),

{% if is_incremental() %}
scoped_events as (
    select events.*
    from events
    inner join {{ ref('int_recompute_scope') }} as scope
        on events.account_id = scope.account_id
        and cast(events.ts as date) >= scope.usage_recompute_from
),
{% else %}
scoped_events as (
    select * from events
),
{% endif %}

contacts as (
    -- who each user was on the day of the event
    select * from {{ ref('stg_crm__contact_versions') }}
    where not is_deleted
),

enriched as (
    select
        scoped_events.account_id,
        scoped_events.user_id,
        scoped_events.event_name,
        cast(scoped_events.ts as date) as activity_date,
        scoped_events.feature,
        scoped_events.duration_seconds,
        scoped_events.api_status,
        scoped_events.api_latency_ms,
        coalesce(contacts.is_champion, false) as is_champion_user,
        coalesce(contacts.is_exec_sponsor, false) as is_sponsor_user
    from scoped_events
    left join contacts
        on scoped_events.user_id = contacts.contact_id
        and cast(scoped_events.ts as date) >= contacts.valid_from_date
        and (contacts.valid_to_date is null or cast(scoped_events.ts as date) < contacts.valid_to_date)
),

-- Distinct users and features without distinct aggregates (each of which hashed every event
-- again): events are summed per user first, then users per day.
user_days as (
    select
        account_id,
        activity_date,
        user_id,
        count(*) as events_total,
        count(*) filter (where event_name = 'login') as logins,
        count(*) filter (where event_name = 'session') as sessions,
        sum(duration_seconds) filter (where event_name = 'session') as session_seconds,
        count(*) filter (where event_name = 'feature_used' and feature in ({{ core_features }})) as core_feature_uses,
        {%- for feature in var('core_features') %}
        bool_or(event_name = 'feature_used' and feature = '{{ feature }}') as used_core_feature_{{ loop.index }},
        {%- endfor %}
        count(*) filter (where event_name = 'api_call') as api_calls,
        count(*) filter (where event_name = 'api_call' and api_status >= 400) as api_errors,
        bool_or(is_champion_user) as champion_active,
        bool_or(is_sponsor_user) as sponsor_active,
        bool_or(not is_champion_user and not is_sponsor_user) as team_member_active
    from enriched
    group by account_id, activity_date, user_id
),

api_latency as (
    select
        account_id,
        activity_date,
        percentile_cont(0.95) within group (order by api_latency_ms) as api_latency_p95_ms
    from enriched
    where event_name = 'api_call'
    group by account_id, activity_date
),

daily as (
    select
        account_id,
        activity_date,
        -- activity: every event counts, whatever its name
        cast(sum(events_total) as bigint) as events_total,
        count(user_id) as active_users,
        list(user_id) filter (where user_id is not null) as active_user_ids,
        cast(sum(logins) as bigint) as logins,
        cast(sum(sessions) as bigint) as sessions,
        coalesce(sum(session_seconds), 0) / 60.0 as session_minutes,
        -- core features
        cast(sum(core_feature_uses) as bigint) as core_feature_uses,
        case when sum(core_feature_uses) > 0 then {{ non_null_list(core_feature_names) }} end
            as core_features_used_list,
        -- API integration health
        cast(sum(api_calls) as bigint) as api_calls,
        cast(sum(api_errors) as bigint) as api_errors,
        -- stakeholders, apart from the rest of the team
        bool_or(champion_active) as champion_active,
        bool_or(sponsor_active) as sponsor_active,
        count(user_id) filter (where team_member_active) as team_active_users
    from user_days
    group by account_id, activity_date
),

final as (
    select
        daily.account_id,
        daily.activity_date,
        daily.events_total,
        daily.active_users,
        daily.active_user_ids,
        daily.logins,
        daily.sessions,
        daily.session_minutes,
        daily.core_feature_uses,
        daily.core_features_used_list,
        daily.api_calls,
        daily.api_errors,
        api_latency.api_latency_p95_ms,
        daily.champion_active,
        daily.sponsor_active,
        daily.team_active_users
    from daily
    left join api_latency
        on daily.account_id = api_latency.account_id
        and daily.activity_date = api_latency.activity_date
)

select * from final
-- Stored in account order within each part: the signal mart reads it a part of whole accounts
-- at a time, and row groups that each span every account could not be skipped (at L: 552 s for
-- the mart instead of 380 s).
order by account_id, activity_date
