-- Current state of crm.contacts: the live rows of base_crm__contacts.
select
    contact_id,
    account_id,
    email,
    role,
    is_champion,
    is_exec_sponsor,
    left_at,
    cdc_seq,
    cdc_source_ts
from {{ ref('base_crm__contacts') }}
where not is_deleted
