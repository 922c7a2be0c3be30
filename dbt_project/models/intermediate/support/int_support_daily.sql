-- Support load and tone per account per day (by the day a ticket was opened): tickets, escalations,
-- negative tickets (VADER compound at or below the threshold), repeat issues (a ticket whose
-- subject, ignoring case, digits and punctuation, matches one the account opened in the 30 days
-- before) and the sum of sentiment for averages.
-- Incremental: a run rebuilds each account's days from its recompute_from (macros/incremental.sql),
-- reading its tickets from 30 days before that to find the repeats.
-- depends_on: {{ ref('int_recompute_scope') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_recompute_scope('activity_date') }}"
) }}
with tickets as (
    select tickets.*
    from {{ ref('stg_support__tickets') }} as tickets
    {%- if is_incremental() %}
    inner join {{ ref('int_recompute_scope') }} as scope
        on tickets.account_id = scope.account_id
        and tickets.created_at >= {{ dbt.dateadd('day', -30, 'scope.recompute_from') }}
    {%- endif %}
),

sentiment as (
    select * from {{ ref('int_support_ticket_sentiment') }}
),

normalized as (
    select
        tickets.*,
        sentiment.sentiment_compound,
        trim(regexp_replace(lower(tickets.subject), '[^a-z]+', ' ', 'g')) as subject_key
    from tickets
    left join sentiment on tickets.ticket_id = sentiment.ticket_id
),

repeats as (
    select distinct later.ticket_id
    from normalized as later
    inner join normalized as earlier
        on later.account_id = earlier.account_id
        and later.subject_key = earlier.subject_key
        and later.ticket_id <> earlier.ticket_id
        and earlier.created_at < later.created_at
        and earlier.created_at >= {{ dbt.dateadd('day', -30, 'later.created_at') }}
),

final as (
    select
        normalized.account_id,
        cast(normalized.created_at as date) as activity_date,
        count(*) as tickets_opened,
        count(*) filter (where normalized.is_escalated) as tickets_escalated,
        count(*) filter (
            where normalized.sentiment_compound <= {{ var('negative_sentiment_threshold') }}
        ) as tickets_negative,
        count(repeats.ticket_id) as tickets_repeat,
        sum(normalized.sentiment_compound) as ticket_sentiment_sum
    from normalized
    left join repeats on normalized.ticket_id = repeats.ticket_id
    {%- if is_incremental() %}
    inner join {{ ref('int_recompute_scope') }} as scope
        on normalized.account_id = scope.account_id
        and cast(normalized.created_at as date) >= scope.recompute_from
    {%- endif %}
    group by normalized.account_id, cast(normalized.created_at as date)
)

select * from final
