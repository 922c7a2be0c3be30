-- Current state of crm.tasks: the live rows of base_crm__tasks.
select
    task_id,
    alert_id,
    account_id,
    owner_id,
    subject,
    status,
    outcome,
    created_at,
    updated_at,
    cdc_seq,
    cdc_source_ts
from {{ ref('base_crm__tasks') }}
where not is_deleted
