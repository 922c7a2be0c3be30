-- Each account's own normal, per day: for every baseline metric, the median and the median
-- absolute deviation (MAD) of its values on the previous four same weekdays, and how far the day
-- is from that normal. Same-weekday samples make daily metrics weekday-aware (a small team's
-- quiet Sunday is judged against its other Sundays); for 7-day sums they are four disjoint
-- prior weeks. A 20% dip is then judged against this account's normal, not a global number.
--
-- Incremental like account_signals_daily: rebuilt from recompute_from, reading the 28 days before,
-- one part of the scope at a time.
-- depends_on: {{ ref('int_recompute_scope') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=["{{ set_build_part(0) }}", "{{ delete_recompute_scope('signal_date') }}"],
    post_hook="{{ build_remaining_parts() }}"
) }}
{%- set metrics = ['logins', 'logins_7d', 'active_users_7d', 'core_feature_uses_7d', 'session_minutes_7d', 'tickets_7d'] %}
{%- set weeks = 4 %}
{%- set lookback_days = 7 * weeks %}
{#- each metric's columns of the previous same weekdays: logins_1w, logins_2w, ... #}
{%- set weeks_of = {} %}
{%- for metric in metrics %}
{%- set columns = [] %}
{%- for week in range(1, weeks + 1) %}{% do columns.append(metric ~ '_' ~ week ~ 'w') %}{% endfor %}
{%- do weeks_of.update({metric: columns}) %}
{%- endfor %}
with scope as (
    select * from {{ ref('int_recompute_scope') }}
    where part = {{ current_part() }}
),

signals as (
    select
        signals.account_id,
        signals.signal_date,
        {%- for metric in metrics %}
        signals.{{ metric }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ ref('account_signals_daily') }} as signals
    inner join scope
        on signals.account_id = scope.account_id
        and signals.signal_date >= {{ dbt.dateadd('day', -lookback_days, 'scope.recompute_from') }}
    -- constant bounds as well, which skip the other row groups before the join
    where {{ in_part_accounts('signals.account_id') }}
    {%- if is_incremental() %}
        and signals.signal_date >= {{ scope_start(lookback_days) }}
    {%- endif %}
),

histories as (
    -- each metric on the previous four same weekdays (the metrics are never null), and how many
    -- of those the account has
    select
        *,
        {%- for metric in metrics %}
        {%- for column in weeks_of[metric] %}
        lag({{ metric }}, {{ loop.index }}) over same_weekday as {{ column }},
        {%- endfor %}
        {%- endfor %}
        least(row_number() over same_weekday - 1, {{ weeks }}) as samples,
        count(*) over (
            partition by account_id order by signal_date rows between 28 preceding and 1 preceding
        ) as baseline_days
    from signals
    window same_weekday as (partition by account_id, {{ day_of_week('signal_date') }} order by signal_date)
),

baselines as (
    select
        *,
        {%- for metric in metrics %}
        {{ median_of_first(weeks_of[metric], 'samples') }} as {{ metric }}_baseline{% if not loop.last %},{% endif %}
        {%- endfor %}
    from histories
),

stats as (
    select
        account_id,
        signal_date,
        baseline_days,
        {%- for metric in metrics %}
        {{ metric }},
        {{ metric }}_baseline,
        {%- set deviations = [] %}
        {%- for sample in weeks_of[metric] %}
        {%- do deviations.append('abs(' ~ sample ~ ' - ' ~ metric ~ '_baseline)') %}
        {%- endfor %}
        {{ median_of_first(deviations, 'samples') }} as {{ metric }}_mad{% if not loop.last %},{% endif %}
        {%- endfor %}
    from baselines
),

final as (
    select
        stats.account_id,
        stats.signal_date,
        stats.baseline_days,
        {%- for metric in metrics %}
        -- {{ metric }}
        stats.{{ metric }}_baseline,
        stats.{{ metric }}_mad,
        1.0 * stats.{{ metric }} / nullif(stats.{{ metric }}_baseline, 0) - 1 as {{ metric }}_change,
        -- the scale has a floor so that a perfectly steady history does not make every wobble extreme
        (stats.{{ metric }} - stats.{{ metric }}_baseline)
            / greatest(1.4826 * stats.{{ metric }}_mad, 0.1 * abs(stats.{{ metric }}_baseline), 1.0)
            as {{ metric }}_robust_z{% if not loop.last %},{% endif %}
        {%- endfor %}
    from stats
    inner join scope
        on stats.account_id = scope.account_id
        and stats.signal_date >= scope.recompute_from
)

-- Each part written in date order: its row groups then hold a few weeks each, so reads of recent
-- days (the live alert frame, the newest features) skip the older ones by their zone maps. A part
-- is whole accounts already; sorting one took no measurable time alone (docs/scale-history.md, ⁷).
select * from final
order by signal_date, account_id
