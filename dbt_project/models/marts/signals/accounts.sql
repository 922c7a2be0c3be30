-- One row per account with its current contract, churn status and owner chain (CSM → manager
-- → VP CS), so alerts and digests need no further join to be routed.
with accounts as (
    select * from {{ ref('stg_crm__accounts') }}
),

churn as (
    select * from {{ ref('int_account_churn') }}
),

team as (
    select * from {{ ref('stg_crm__team') }}
),

final as (
    select
        accounts.account_id,
        accounts.name,
        accounts.segment,
        accounts.arr,
        accounts.plan,
        accounts.seats_purchased,
        accounts.created_at,
        -- contract and churn
        churn.renewal_date,
        churn.contract_status,
        churn.churned_at,
        churn.churn_reason,
        churn.churned_at is not null as is_churned,
        -- owners
        accounts.csm_id,
        csm.name as csm_name,
        csm.email as csm_email,
        csm.timezone as csm_timezone,
        manager.member_id as manager_id,
        manager.name as manager_name,
        manager.email as manager_email,
        vp.member_id as vp_id,
        vp.name as vp_name,
        vp.email as vp_email
    from accounts
    left join churn on accounts.account_id = churn.account_id
    left join team as csm on accounts.csm_id = csm.member_id
    left join team as manager on csm.manager_id = manager.member_id
    left join team as vp on manager.manager_id = vp.member_id
)

select * from final
