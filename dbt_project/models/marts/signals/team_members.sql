-- The CS team: CSMs, their managers and the VP CS, for routing and digests.
with team as (
    select * from {{ ref('stg_crm__team') }}
),

final as (
    select member_id, name, email, role, manager_id, timezone
    from team
)

select * from final
