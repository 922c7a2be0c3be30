-- Each account's own normal, per day: for every baseline metric, the median and the median
-- absolute deviation (MAD) of its values on the previous four same weekdays, and how far the day
-- is from that normal. Same-weekday samples make daily metrics weekday-aware (a small team's
-- quiet Sunday is judged against its other Sundays); for 7-day sums they are four disjoint
-- prior weeks. A 20% dip is then judged against this account's normal, not a global number.
{%- set metrics = ['logins', 'logins_7d', 'active_users_7d', 'core_feature_uses_7d', 'session_minutes_7d', 'tickets_7d'] %}
with signals as (
    select
        account_id,
        signal_date,
        {{ metrics | join(',\n        ') }}
    from {{ ref('account_signals_daily') }}
),

histories as (
    select
        *,
        {%- for metric in metrics %}
        {{ weekday_history(metric, 4) }} as {{ metric }}_history,
        {%- endfor %}
        count(*) over (
            partition by account_id order by signal_date rows between 28 preceding and 1 preceding
        ) as baseline_days
    from signals
),

stats as (
    select
        account_id,
        signal_date,
        baseline_days,
        {%- for metric in metrics %}
        {{ metric }},
        {{ list_median(metric ~ '_history') }} as {{ metric }}_baseline,
        {{ list_mad(metric ~ '_history') }} as {{ metric }}_mad{% if not loop.last %},{% endif %}
        {%- endfor %}
    from histories
),

final as (
    select
        account_id,
        signal_date,
        baseline_days,
        {%- for metric in metrics %}
        -- {{ metric }}
        {{ metric }}_baseline,
        {{ metric }}_mad,
        1.0 * {{ metric }} / nullif({{ metric }}_baseline, 0) - 1 as {{ metric }}_change,
        -- the scale has a floor so that a perfectly steady history does not make every wobble extreme
        ({{ metric }} - {{ metric }}_baseline)
            / greatest(1.4826 * {{ metric }}_mad, 0.1 * abs({{ metric }}_baseline), 1.0) as {{ metric }}_robust_z{% if not loop.last %},{% endif %}
        {%- endfor %}
    from stats
)

select * from final
