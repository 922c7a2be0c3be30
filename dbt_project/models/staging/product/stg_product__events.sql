-- Product events, current state per event_id. Append-only at the source, but CDC can still
-- replay or delete an event: a run upserts the events of its batch, keeping per event the change
-- with the highest seq (so a late, older copy never overwrites a newer one), and keeps deleted
-- events as rows with is_deleted (so a later replay of an old insert cannot bring them back).
{{ config(materialized='incremental', unique_key='event_id', incremental_strategy='delete+insert') }}
{%- set columns = {
    'account_id': 'varchar',
    'user_id': 'varchar',
    'event_name': 'varchar',
    'ts': 'timestamp',
    'properties': 'json'
} %}
with changes as (
    select * from {{ cdc_changes('product') }}
    where source_table = 'events'
),

latest as (
    select *
    from changes
    qualify row_number() over (partition by key order by seq desc, ingested_at desc) = 1
),

images as (
    select
        key as event_id,
        {{ cdc_columns('coalesce(after, before)', columns) }}
        (op = 'd' or after is null) as is_deleted,
        seq as cdc_seq
    from latest
),

{% if is_incremental() %}
candidates as (
    select * from images
    union all
    select * from {{ this }} where event_id in (select key from latest)
),
{% else %}
candidates as (
    select * from images
),
{% endif %}

final as (
    select *
    from candidates
    qualify row_number() over (partition by event_id order by cdc_seq desc) = 1
)

select * from final
