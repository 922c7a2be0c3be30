-- Current state of crm.invoices: the live rows of base_crm__invoices.
select
    invoice_id,
    account_id,
    due_date,
    amount,
    status,
    event_at,
    cdc_seq,
    cdc_source_ts
from {{ ref('base_crm__invoices') }}
where not is_deleted
