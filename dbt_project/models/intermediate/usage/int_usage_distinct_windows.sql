-- Distinct counts over trailing windows, which rolling sums cannot give: active users in the
-- last 7 days and core features used in the last 28 days.
{%- set core_features = "'" ~ (var('core_features') | join("', '")) ~ "'" %}
with account_days as (
    select * from {{ ref('int_account_days') }}
),

events as (
    select * from {{ ref('int_usage_events_enriched') }}
),

user_days as (
    select distinct account_id, activity_date, user_id from events
),

feature_days as (
    select distinct account_id, activity_date, feature
    from events
    where event_name = 'feature_used' and feature in ({{ core_features }})
),

active_users as (
    select
        account_days.account_id,
        account_days.signal_date,
        count(distinct user_days.user_id) as active_users_7d
    from account_days
    inner join user_days
        on account_days.account_id = user_days.account_id
        and user_days.activity_date between {{ dbt.dateadd('day', -6, 'account_days.signal_date') }}
        and account_days.signal_date
    group by account_days.account_id, account_days.signal_date
),

core_features as (
    select
        account_days.account_id,
        account_days.signal_date,
        count(distinct feature_days.feature) as core_features_used_28d
    from account_days
    inner join feature_days
        on account_days.account_id = feature_days.account_id
        and feature_days.activity_date between {{ dbt.dateadd('day', -27, 'account_days.signal_date') }}
        and account_days.signal_date
    group by account_days.account_id, account_days.signal_date
),

final as (
    select
        account_days.account_id,
        account_days.signal_date,
        coalesce(active_users.active_users_7d, 0) as active_users_7d,
        coalesce(core_features.core_features_used_28d, 0) as core_features_used_28d
    from account_days
    left join active_users
        on account_days.account_id = active_users.account_id
        and account_days.signal_date = active_users.signal_date
    left join core_features
        on account_days.account_id = core_features.account_id
        and account_days.signal_date = core_features.signal_date
)

select * from final
