-- Current state of support.tickets: the live rows of base_support__tickets.
select
    ticket_id,
    account_id,
    contact_id,
    created_at,
    closed_at,
    priority,
    is_escalated,
    subject,
    body,
    csat,
    cdc_seq,
    cdc_source_ts
from {{ ref('base_support__tickets') }}
where not is_deleted
