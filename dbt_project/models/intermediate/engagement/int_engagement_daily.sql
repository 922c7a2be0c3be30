-- Surveys sent and NPS answers per account per day; for a day with answers, its latest score
-- and the score of the answer before it (so the latest change can be carried forward).
with sends as (
    select * from {{ ref('stg_engagement__survey_sends') }}
),

responses as (
    select
        *,
        cast(responded_at as date) as response_date,
        lag(score) over (partition by account_id order by responded_at, response_id) as previous_score
    from {{ ref('stg_engagement__nps_responses') }}
),

last_response_of_day as (
    select
        account_id,
        response_date as activity_date,
        score as nps_score_day_last,
        previous_score as nps_score_day_previous,
        count(*) over (partition by account_id, response_date) as nps_responses
    from responses
    qualify row_number() over (partition by account_id, response_date order by responded_at desc, response_id desc) = 1
),

sends_per_day as (
    select account_id, cast(sent_at as date) as activity_date, count(*) as surveys_sent
    from sends
    group by account_id, cast(sent_at as date)
),

final as (
    select
        coalesce(sends_per_day.account_id, last_response_of_day.account_id) as account_id,
        coalesce(sends_per_day.activity_date, last_response_of_day.activity_date) as activity_date,
        coalesce(sends_per_day.surveys_sent, 0) as surveys_sent,
        coalesce(last_response_of_day.nps_responses, 0) as nps_responses,
        last_response_of_day.nps_score_day_last,
        last_response_of_day.nps_score_day_previous
    from sends_per_day
    full outer join last_response_of_day
        on sends_per_day.account_id = last_response_of_day.account_id
        and sends_per_day.activity_date = last_response_of_day.activity_date
)

select * from final
