-- Current state of engagement.survey_sends: the live rows of base_engagement__survey_sends.
select
    survey_id,
    account_id,
    contact_id,
    sent_at,
    cdc_seq,
    cdc_source_ts
from {{ ref('base_engagement__survey_sends') }}
where not is_deleted
