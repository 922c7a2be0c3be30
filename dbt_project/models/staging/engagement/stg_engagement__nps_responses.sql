-- Current state of engagement.nps_responses: the live rows of base_engagement__nps_responses.
select
    response_id,
    survey_id,
    account_id,
    contact_id,
    score,
    comment,
    responded_at,
    cdc_seq,
    cdc_source_ts
from {{ ref('base_engagement__nps_responses') }}
where not is_deleted
