-- Surveys sent and NPS answers per account per day; for a day with answers, its latest score
-- and the score of the answer before it (so the latest change can be carried forward).
-- Incremental: a run rebuilds each account's days from its recompute_from (macros/incremental.sql);
-- an answer's previous score is still looked up among all of the account's answers.
-- depends_on: {{ ref('int_recompute_scope') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_recompute_scope('activity_date') }}"
) }}
with sends as (
    select sends.*
    from {{ ref('stg_engagement__survey_sends') }} as sends
    {%- if is_incremental() %}
    inner join {{ ref('int_recompute_scope') }} as scope
        on sends.account_id = scope.account_id
        and cast(sends.sent_at as date) >= scope.recompute_from
    {%- endif %}
),

responses as (
    select
        *,
        cast(responded_at as date) as response_date,
        lag(score) over (partition by account_id order by responded_at, response_id) as previous_score
    from {{ ref('stg_engagement__nps_responses') }}
    {%- if is_incremental() %}
    where account_id in (select account_id from {{ ref('int_recompute_scope') }})
    {%- endif %}
),

last_response_of_day as (
    select
        responses.account_id,
        responses.response_date as activity_date,
        responses.score as nps_score_day_last,
        responses.previous_score as nps_score_day_previous,
        count(*) over (partition by responses.account_id, responses.response_date) as nps_responses
    from responses
    {%- if is_incremental() %}
    inner join {{ ref('int_recompute_scope') }} as scope
        on responses.account_id = scope.account_id
        and responses.response_date >= scope.recompute_from
    {%- endif %}
    qualify row_number() over (
        partition by responses.account_id, responses.response_date
        order by responses.responded_at desc, responses.response_id desc
    ) = 1
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
