-- One row per account per day with all four signal families: daily facts and the trailing
-- windows the alert rules and the model read. Every value at signal_date uses only data dated
-- on or before signal_date.
with account_days as (
    select * from {{ ref('int_account_days') }}
),

accounts as (
    select * from {{ ref('accounts') }}
),

contracts as (
    select * from {{ ref('stg_crm__contracts') }}
),

usage as (
    select * from {{ ref('int_usage_daily') }}
),

distinct_windows as (
    select * from {{ ref('int_usage_distinct_windows') }}
),

support as (
    select * from {{ ref('int_support_daily') }}
),

engagement as (
    select * from {{ ref('int_engagement_daily') }}
),

crm as (
    select * from {{ ref('int_crm_daily') }}
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

daily as (
    select
        account_days.account_id,
        account_days.signal_date,
        -- account context
        accounts.segment,
        accounts.arr,
        accounts.seats_purchased,
        accounts.csm_id,
        accounts.created_at,
        -- usage
        coalesce(usage.events_total, 0) as events_total,
        coalesce(usage.active_users, 0) as active_users,
        coalesce(usage.logins, 0) as logins,
        coalesce(usage.sessions, 0) as sessions,
        coalesce(usage.session_minutes, 0) as session_minutes,
        coalesce(usage.core_feature_uses, 0) as core_feature_uses,
        coalesce(usage.core_features_used, 0) as core_features_used,
        coalesce(usage.api_calls, 0) as api_calls,
        coalesce(usage.api_errors, 0) as api_errors,
        usage.api_latency_p95_ms,
        coalesce(usage.champion_active, false) as champion_active,
        coalesce(usage.sponsor_active, false) as sponsor_active,
        distinct_windows.active_users_7d,
        distinct_windows.core_features_used_28d,
        -- support
        coalesce(support.tickets_opened, 0) as tickets_opened,
        coalesce(support.tickets_escalated, 0) as tickets_escalated,
        coalesce(support.tickets_negative, 0) as tickets_negative,
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
    inner join accounts on account_days.account_id = accounts.account_id
    left join usage
        on account_days.account_id = usage.account_id and account_days.signal_date = usage.activity_date
    left join distinct_windows
        on account_days.account_id = distinct_windows.account_id
        and account_days.signal_date = distinct_windows.signal_date
    left join support
        on account_days.account_id = support.account_id and account_days.signal_date = support.activity_date
    left join engagement
        on account_days.account_id = engagement.account_id and account_days.signal_date = engagement.activity_date
    left join crm
        on account_days.account_id = crm.account_id and account_days.signal_date = crm.activity_date
    left join renewals
        on account_days.account_id = renewals.account_id and account_days.signal_date = renewals.signal_date
),

windowed as (
    select
        *,
        sum(logins) over last_7_days as logins_7d,
        sum(logins) over previous_7_days as logins_prev_7d,
        sum(session_minutes) over last_7_days as session_minutes_7d,
        sum(core_feature_uses) over last_7_days as core_feature_uses_7d,
        sum(api_calls) over last_7_days as api_calls_7d,
        sum(api_errors) over last_7_days as api_errors_7d,
        avg(api_latency_p95_ms) over last_7_days as api_latency_p95_ms_7d,
        sum(case when champion_active then 1 else 0 end) over last_14_days as champion_active_days_14d,
        sum(case when sponsor_active then 1 else 0 end) over last_28_days as sponsor_active_days_28d,
        max(case when logins > 0 then signal_date end) over all_before as last_login_date,
        sum(tickets_opened) over last_7_days as tickets_7d,
        sum(tickets_opened) over last_28_days as tickets_28d,
        sum(tickets_negative) over last_7_days as tickets_negative_7d,
        sum(tickets_negative) over last_28_days as tickets_negative_28d,
        sum(tickets_escalated) over last_28_days as tickets_escalated_28d,
        sum(ticket_sentiment_sum) over last_28_days as ticket_sentiment_sum_28d,
        last_value(nps_score_day_last ignore nulls) over all_before as nps_score_last,
        last_value(nps_score_day_previous ignore nulls) over all_before as nps_score_previous,
        sum(surveys_sent) over last_90_days as surveys_sent_90d,
        sum(nps_responses) over last_90_days as survey_responses_90d,
        sum(payment_failures) over last_30_days as payment_failures_30d,
        sum(cancellation_requests) over last_90_days as cancellation_requests_90d,
        sum(procurement_freezes) over last_90_days as procurement_freezes_90d,
        sum(budget_owner_changes) over last_90_days as budget_owner_changes_90d,
        sum(champion_departures) over last_90_days as champion_departures_90d,
        sum(sponsor_departures) over last_90_days as sponsor_departures_90d
    from daily
    window
        last_7_days as (partition by account_id order by signal_date rows between 6 preceding and current row),
        previous_7_days as (partition by account_id order by signal_date rows between 13 preceding and 7 preceding),
        last_14_days as (partition by account_id order by signal_date rows between 13 preceding and current row),
        last_28_days as (partition by account_id order by signal_date rows between 27 preceding and current row),
        last_30_days as (partition by account_id order by signal_date rows between 29 preceding and current row),
        last_90_days as (partition by account_id order by signal_date rows between 89 preceding and current row),
        all_before as (partition by account_id order by signal_date rows between unbounded preceding and current row)
),

final as (
    select
        account_id,
        signal_date,
        -- account context
        segment,
        arr,
        seats_purchased,
        csm_id,
        {{ dbt.datediff('created_at', 'signal_date', 'day') }} as tenure_days,
        -- usage: the day
        events_total,
        active_users,
        logins,
        sessions,
        session_minutes,
        core_feature_uses,
        core_features_used,
        api_calls,
        api_errors,
        api_latency_p95_ms,
        champion_active,
        sponsor_active,
        -- usage: trailing windows
        logins_7d,
        logins_prev_7d,
        1.0 * logins_7d / nullif(logins_prev_7d, 0) - 1 as logins_wow_change,
        active_users_7d,
        1.0 * active_users_7d / nullif(seats_purchased, 0) as seat_utilisation,
        session_minutes_7d,
        core_feature_uses_7d,
        core_features_used_28d,
        api_calls_7d,
        1.0 * api_errors_7d / nullif(api_calls_7d, 0) as api_error_rate_7d,
        api_latency_p95_ms_7d,
        champion_active_days_14d,
        sponsor_active_days_28d,
        {{ dbt.datediff('last_login_date', 'signal_date', 'day') }} as days_since_last_login,
        -- support
        tickets_opened,
        tickets_escalated,
        tickets_negative,
        tickets_7d,
        tickets_28d,
        tickets_negative_7d,
        tickets_negative_28d,
        tickets_escalated_28d,
        1.0 * ticket_sentiment_sum_28d / nullif(tickets_28d, 0) as ticket_sentiment_avg_28d,
        -- engagement
        nps_responses,
        nps_score_last,
        nps_score_previous,
        nps_score_last - nps_score_previous as nps_change,
        surveys_sent_90d,
        survey_responses_90d,
        least(1.0 * survey_responses_90d / nullif(surveys_sent_90d, 0), 1.0) as survey_response_rate_90d,
        -- crm
        payment_failures,
        payment_failures_30d,
        cancellation_requests,
        cancellation_requests_90d,
        procurement_freezes_90d,
        budget_owner_changes_90d,
        champion_departures_90d,
        sponsor_departures_90d,
        renewal_date,
        {{ dbt.datediff('signal_date', 'renewal_date', 'day') }} as days_to_renewal
    from windowed
)

select * from final
