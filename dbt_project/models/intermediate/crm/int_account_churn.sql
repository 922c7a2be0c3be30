-- One row per account: when it churned, if it did. An account churns when its latest contract is
-- cancelled, or when that contract ran out more than 30 days ago without a renewal.
with accounts as (
    select account_id from {{ ref('stg_crm__accounts') }}
),

contracts as (
    select * from {{ ref('stg_crm__contracts') }}
),

clock as (
    select * from {{ ref('stg_cdc__clock') }}
),

latest_contract as (
    select *
    from contracts
    qualify row_number() over (partition by account_id order by start_date desc, contract_id desc) = 1
),

final as (
    select
        accounts.account_id,
        latest_contract.renewal_date,
        latest_contract.status as contract_status,
        case
            when latest_contract.status = 'cancelled'
                then coalesce(latest_contract.cancelled_at, cast(latest_contract.renewal_date as timestamp))
            when latest_contract.status = 'active'
                and latest_contract.renewal_date < {{ dbt.dateadd('day', -30, 'clock.as_of_date') }}
                then cast(latest_contract.renewal_date as timestamp)
        end as churned_at,
        case
            when latest_contract.status = 'cancelled' then 'cancelled'
            when latest_contract.status = 'active'
                and latest_contract.renewal_date < {{ dbt.dateadd('day', -30, 'clock.as_of_date') }}
                then 'not_renewed'
        end as churn_reason
    from accounts
    cross join clock
    left join latest_contract on accounts.account_id = latest_contract.account_id
)

select * from final
