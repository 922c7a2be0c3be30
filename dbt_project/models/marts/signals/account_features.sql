-- Point-in-time model features per account per snapshot date: every Monday, plus the data
-- clock's day (what the current scores use). A snapshot holds only what was known on its date
-- (signals and baselines are computed from data dated on or before it), and only accounts that
-- had not churned by then. Labels are not here: the model derives them from accounts.churned_at.
-- A view: it is a filter over the incremental signal tables.
{{ config(materialized='view') }}
with clock as (
    select * from {{ ref('stg_cdc__clock') }}
),

-- The snapshot days are kept on each side before the join: joining every daily row of both marts
-- first and filtering after made the join hold seven times the rows (at 100,000 accounts × 365
-- days: 34.7 s and the whole DuckDB memory limit to read the features, 13.8 s after).
signals as (
    select daily.*
    from {{ ref('account_signals_daily') }} as daily
    cross join clock
    where {{ dbt.date_trunc('week', 'daily.signal_date') }} = daily.signal_date or daily.signal_date = clock.as_of_date
),

baselines as (
    select daily.*
    from {{ ref('account_baselines') }} as daily
    cross join clock
    where {{ dbt.date_trunc('week', 'daily.signal_date') }} = daily.signal_date or daily.signal_date = clock.as_of_date
),

accounts as (
    select account_id, churned_at from {{ ref('accounts') }}
),

final as (
    select
        signals.account_id,
        signals.signal_date as snapshot_date,
        -- usage
        signals.logins_7d,
        signals.logins_wow_change,
        baselines.logins_7d_change,
        baselines.logins_7d_robust_z,
        signals.active_users_7d,
        baselines.active_users_7d_change,
        signals.seat_utilisation,
        signals.logins_per_seat_28d,
        signals.logins_28d_vs_prior_62d,
        signals.session_minutes_28d_vs_prior_62d,
        signals.core_feature_uses_28d_vs_prior_62d,
        signals.team_active_users_28d_vs_prior_62d,
        baselines.core_feature_uses_7d_change,
        signals.core_features_used_28d,
        signals.core_features_abandoned_28d,
        baselines.session_minutes_7d_change,
        signals.days_since_last_login,
        signals.api_error_rate_7d,
        signals.api_latency_p95_ms_7d,
        signals.champion_active_days_14d,
        signals.sponsor_active_days_28d,
        -- support
        signals.tickets_7d,
        signals.tickets_28d,
        signals.tickets_escalated_28d,
        signals.tickets_negative_28d,
        signals.tickets_repeat_28d,
        signals.ticket_sentiment_avg_28d,
        -- engagement
        signals.nps_score_last,
        signals.nps_change,
        signals.survey_response_rate_90d,
        -- crm
        signals.payment_failures_30d,
        signals.cancellation_requests_90d,
        signals.procurement_freezes_90d,
        signals.budget_owner_changes_90d,
        signals.champion_departures_90d,
        signals.days_to_renewal,
        -- account
        signals.arr,
        signals.seats_purchased,
        signals.tenure_days,
        signals.segment
    from signals
    inner join baselines
        on signals.account_id = baselines.account_id and signals.signal_date = baselines.signal_date
    inner join accounts on signals.account_id = accounts.account_id
    where accounts.churned_at is null or signals.signal_date < cast(accounts.churned_at as date)
)

select * from final
