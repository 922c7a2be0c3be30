-- Current state of crm.team: the live rows of base_crm__team.
select
    member_id,
    name,
    email,
    role,
    manager_id,
    timezone,
    cdc_seq,
    cdc_source_ts
from {{ ref('base_crm__team') }}
where not is_deleted
