-- Product events with their properties unpacked and who the user is (champion, exec sponsor).
-- Event names outside the known ones are kept: they count as activity.
with events as (
    select * from {{ ref('stg_product__events') }}
),

contacts as (
    select contact_id, is_champion, is_exec_sponsor from {{ ref('stg_crm__contacts') }}
),

final as (
    select
        events.event_id,
        events.account_id,
        events.user_id,
        events.event_name,
        events.ts,
        cast(events.ts as date) as activity_date,
        {{ json_text('events.properties', 'feature') }} as feature,
        cast({{ json_text('events.properties', 'duration_seconds') }} as double) as duration_seconds,
        cast({{ json_text('events.properties', 'status') }} as integer) as api_status,
        cast({{ json_text('events.properties', 'latency_ms') }} as double) as api_latency_ms,
        coalesce(contacts.is_champion, false) as is_champion_user,
        coalesce(contacts.is_exec_sponsor, false) as is_sponsor_user
    from events
    left join contacts on events.user_id = contacts.contact_id
)

select * from final
