-- Support load and tone per account per day (by the day a ticket was opened).
with tickets as (
    select * from {{ ref('int_support_ticket_sentiment') }}
),

final as (
    select
        account_id,
        cast(created_at as date) as activity_date,
        count(*) as tickets_opened,
        count(*) filter (where is_escalated) as tickets_escalated,
        count(*) filter (where sentiment_compound <= {{ var('negative_sentiment_threshold') }}) as tickets_negative,
        sum(sentiment_compound) as ticket_sentiment_sum
    from tickets
    group by account_id, cast(created_at as date)
)

select * from final
