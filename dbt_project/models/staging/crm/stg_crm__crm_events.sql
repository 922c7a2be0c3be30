-- Current state of crm.crm_events: the live rows of base_crm__crm_events.
select
    crm_event_id,
    account_id,
    kind,
    event_at,
    cdc_seq,
    cdc_source_ts
from {{ ref('base_crm__crm_events') }}
where not is_deleted
