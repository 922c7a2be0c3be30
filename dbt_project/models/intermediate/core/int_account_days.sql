-- The dense daily spine: one row per account per day it was a customer, from the start of the
-- data (or the account's creation) to the data clock (or its churn day). Rolling windows over
-- it count rows as days.
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

days as (
    {{ day_spine('(select first_date from clock)', '(select as_of_date from clock)') }}
),

final as (
    select
        accounts.account_id,
        days.day as signal_date
    from accounts
    cross join clock
    inner join churn on accounts.account_id = churn.account_id
    inner join days
        on days.day >= greatest(cast(accounts.created_at as date), clock.first_date)
        and (churn.churned_at is null or days.day <= cast(churn.churned_at as date))
)

select * from final
