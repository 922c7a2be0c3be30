-- CRM risk events per account per day: payment failures (from invoice history, so a failure
-- later paid still counts on its day), cancellation requests, procurement freezes, budget-owner
-- changes, and champion / exec-sponsor departures.
with invoice_versions as (
    select * from {{ ref('stg_crm__invoice_versions') }}
),

crm_events as (
    select * from {{ ref('stg_crm__crm_events') }}
),

contacts as (
    select * from {{ ref('stg_crm__contacts') }}
),

payment_failures as (
    select
        account_id,
        cast(event_at as date) as activity_date,
        'payment_failure' as kind,
        count(distinct invoice_id) as occurrences
    from invoice_versions
    where status = 'failed'
    group by account_id, cast(event_at as date)
),

account_events as (
    select account_id, cast(event_at as date) as activity_date, kind, count(*) as occurrences
    from crm_events
    group by account_id, cast(event_at as date), kind
),

departures as (
    select
        account_id,
        cast(left_at as date) as activity_date,
        case when is_champion then 'champion_departure' else 'sponsor_departure' end as kind,
        count(*) as occurrences
    from contacts
    where left_at is not null and (is_champion or is_exec_sponsor)
    group by account_id, cast(left_at as date), is_champion
),

all_events as (
    select * from payment_failures
    union all
    select * from account_events
    union all
    select * from departures
),

final as (
    select
        account_id,
        activity_date,
        cast(sum(occurrences) filter (where kind = 'payment_failure') as bigint) as payment_failures,
        cast(sum(occurrences) filter (where kind = 'cancellation_request') as bigint) as cancellation_requests,
        cast(sum(occurrences) filter (where kind = 'procurement_freeze') as bigint) as procurement_freezes,
        cast(sum(occurrences) filter (where kind = 'budget_owner_change') as bigint) as budget_owner_changes,
        cast(sum(occurrences) filter (where kind = 'champion_departure') as bigint) as champion_departures,
        cast(sum(occurrences) filter (where kind = 'sponsor_departure') as bigint) as sponsor_departures
    from all_events
    group by account_id, activity_date
)

select * from final
