-- Current state of crm.accounts: the live rows of base_crm__accounts.
select
    account_id,
    name,
    segment,
    arr,
    plan,
    seats_purchased,
    csm_id,
    created_at,
    cdc_seq,
    cdc_source_ts
from {{ ref('base_crm__accounts') }}
where not is_deleted
