-- Each account's span as a customer: from the start of the data (or the account's creation) to
-- the data clock (or its churn day). The signal mart expands the spans of the accounts it
-- rebuilds into its dense daily spine (rolling windows over it count rows as days); a view of
-- every account-day was expanded whole before the mart could pick its part's accounts (33 M rows
-- at 100,000 accounts, 1.5 s of each part).
{{ config(materialized='view') }}
with accounts as (
    select account_id, created_at from {{ ref('stg_crm__accounts') }}
),

churn as (
    select account_id, churned_at from {{ ref('int_account_churn') }}
),

clock as (
    select * from {{ ref('stg_cdc__clock') }}
),

final as (
    select
        accounts.account_id,
        greatest(cast(accounts.created_at as date), clock.first_date) as first_day,
        case
            when churn.churned_at is null or cast(churn.churned_at as date) > clock.as_of_date then clock.as_of_date
            else cast(churn.churned_at as date)
        end as last_day
    from accounts
    cross join clock
    inner join churn on accounts.account_id = churn.account_id
)

select * from final
