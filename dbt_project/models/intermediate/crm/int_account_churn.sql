-- One row per account: when it churned, if it did, under the configured definition.
--   contract (default): the latest contract is cancelled (on cancelled_at), or it ran out and
--     was not renewed (counted on renewal_date + 30 days, when the grace period confirms it).
--   inactivity: no product activity for churn_inactive_days days (counted on the day that is
--     reached), for self-serve businesses without contracts.
{%- set grace_days = 30 %}
with accounts as (
    select account_id from {{ ref('stg_crm__accounts') }}
),

contracts as (
    select * from {{ ref('stg_crm__contracts') }}
),

usage as (
    select account_id, max(activity_date) as last_active_date
    from {{ ref('int_usage_daily') }}
    group by account_id
),

clock as (
    select * from {{ ref('stg_cdc__clock') }}
),

latest_contract as (
    select *
    from contracts
    qualify row_number() over (partition by account_id order by start_date desc, contract_id desc) = 1
),

by_contract as (
    select
        accounts.account_id,
        latest_contract.renewal_date,
        latest_contract.status as contract_status,
        case
            when latest_contract.status = 'cancelled'
                then coalesce(latest_contract.cancelled_at, cast(latest_contract.renewal_date as timestamp))
            when latest_contract.status = 'active'
                and {{ dbt.dateadd('day', grace_days, 'latest_contract.renewal_date') }} <= clock.as_of_date
                then cast({{ dbt.dateadd('day', grace_days, 'latest_contract.renewal_date') }} as timestamp)
        end as contract_churned_at
    from accounts
    cross join clock
    left join latest_contract on accounts.account_id = latest_contract.account_id
),

by_inactivity as (
    select
        accounts.account_id,
        usage.last_active_date,
        case
            when {{ dbt.dateadd('day', var('churn_inactive_days'), 'coalesce(usage.last_active_date, clock.first_date)') }}
                <= clock.as_of_date
                then cast({{ dbt.dateadd('day', var('churn_inactive_days'), 'coalesce(usage.last_active_date, clock.first_date)') }} as timestamp)
        end as inactivity_churned_at
    from accounts
    cross join clock
    left join usage on accounts.account_id = usage.account_id
),

final as (
    select
        by_contract.account_id,
        by_contract.renewal_date,
        by_contract.contract_status,
        by_inactivity.last_active_date,
        {%- if var('churn_definition') == 'inactivity' %}
        by_inactivity.inactivity_churned_at as churned_at,
        case when by_inactivity.inactivity_churned_at is not null then 'inactive' end as churn_reason
        {%- else %}
        by_contract.contract_churned_at as churned_at,
        case
            when by_contract.contract_status = 'cancelled' then 'cancelled'
            when by_contract.contract_churned_at is not null then 'not_renewed'
        end as churn_reason
        {%- endif %}
    from by_contract
    inner join by_inactivity on by_contract.account_id = by_inactivity.account_id
)

select * from final
