-- Current state of crm.contracts: the live rows of base_crm__contracts.
select
    contract_id,
    account_id,
    start_date,
    renewal_date,
    arr,
    status,
    cancelled_at,
    cdc_seq,
    cdc_source_ts
from {{ ref('base_crm__contracts') }}
where not is_deleted
