-- Product events, current state per event_id. Append-only at the source, but CDC can still
-- replay or delete an event: a run upserts the events of its batch, keeping per event the change
-- with the highest seq (so a late, older copy never overwrites a newer one), and keeps deleted
-- events as rows with is_deleted (so a later replay of an old insert cannot bring them back).
-- An event keeps its time, so only staged events from the batch's earliest time are looked at:
-- the cost follows the batch, not the history.
-- The properties the signals read are typed here, in the same parse of the image as the other
-- columns (the intermediate models parsed a `properties` JSON column again).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    post_hook="{{ drop_superseded_events() }}"
) }}
{%- set columns = {
    'account_id': 'varchar',
    'user_id': 'varchar',
    'event_name': 'varchar',
    'ts': 'timestamp',
    'feature': 'varchar',
    'duration_seconds': 'double',
    'api_status': 'integer',
    'api_latency_ms': 'double'
} %}
{%- set paths = {
    'feature': 'properties.feature',
    'duration_seconds': 'properties.duration_seconds',
    'api_status': 'properties.status',
    'api_latency_ms': 'properties.latency_ms'
} %}
with changes as {{ inline_cte() }} (
    select * from {{ cdc_changes('product') }}
    where source_table = 'events'
),

-- Events are append-only: almost every key has one change. Only the keys with several are
-- ranked; a window over every change (each row carrying its JSON image through the sort) was
-- the largest cost of a full build, spilling gigabytes at 10,000 accounts. They are found by a
-- hash of the key (macros/portable.sql: key_hash): grouping 85 M event ids as strings took
-- 29 s at 100,000 accounts, their hashes 15 s; at 170 M (two years) the strings ran out of a
-- 2.5 GB memory limit, the hashes spilled and finished. A collision only sends a key with one
-- change through the ranking too, which keeps that change.
repeated_keys as (
    select {{ key_hash('key') }} as key_hash
    from changes
    group by 1
    having count(*) > 1
),

latest as (
    select *
    from changes
    where {{ key_hash('key') }} not in (select key_hash from repeated_keys)
    union all
    select *
    from changes
    where {{ key_hash('key') }} in (select key_hash from repeated_keys)
    qualify row_number() over (partition by key order by seq desc, ingested_at desc) = 1
),

images as (
    select
        key as event_id,
        {{ cdc_columns('coalesce(after, before)', columns, paths) }}
        (op = 'd' or after is null) as is_deleted,
        seq as cdc_seq
    from latest
),

{% if is_incremental() %}
final as (
    -- only images newer than the staged copy of the same event; the post-hook drops the copies they replace
    select *
    from images
    where not exists (
        select 1
        from {{ this }} as staged
        where staged.ts >= {{ batch_min_event_ts() }}
            and staged.event_id = images.event_id
            and staged.cdc_seq >= images.cdc_seq
    )
)
{% else %}
final as (
    select * from images
)
{% endif %}

select * from final
