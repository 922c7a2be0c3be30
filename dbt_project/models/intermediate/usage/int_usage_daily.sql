-- Product usage per account per day.
{%- set core_features = "'" ~ (var('core_features') | join("', '")) ~ "'" %}
with events as (
    select * from {{ ref('int_usage_events_enriched') }}
),

final as (
    select
        account_id,
        activity_date,
        -- activity
        count(*) as events_total,
        count(distinct user_id) as active_users,
        count(*) filter (where event_name = 'login') as logins,
        count(*) filter (where event_name = 'session') as sessions,
        coalesce(sum(duration_seconds) filter (where event_name = 'session'), 0) / 60.0 as session_minutes,
        -- core features
        count(*) filter (where event_name = 'feature_used' and feature in ({{ core_features }})) as core_feature_uses,
        count(distinct feature) filter (
            where event_name = 'feature_used' and feature in ({{ core_features }})
        ) as core_features_used,
        -- API integration health
        count(*) filter (where event_name = 'api_call') as api_calls,
        count(*) filter (where event_name = 'api_call' and api_status >= 400) as api_errors,
        percentile_cont(0.95) within group (order by api_latency_ms) filter (
            where event_name = 'api_call'
        ) as api_latency_p95_ms,
        -- stakeholders
        bool_or(is_champion_user) as champion_active,
        bool_or(is_sponsor_user) as sponsor_active
    from events
    group by account_id, activity_date
)

select * from final
