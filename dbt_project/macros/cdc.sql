{#-
  Current state and version history of one source table, from its system's change table.

  CDC is at-least-once: the same change can arrive twice and rows of one key can arrive out of
  order. The latest change per key by `seq` wins; a delete (or a tombstone, `after` null) removes
  the key. Replaying any batch gives the same state.
-#}

{% macro cdc_columns(columns) -%}
    {%- for name, type in columns.items() %}
        {%- if type == 'json' %}
        json_extract(after, '$.{{ name }}') as {{ name }},
        {%- else %}
        cast(json_extract_string(after, '$.{{ name }}') as {{ type }}) as {{ name }},
        {%- endif %}
    {%- endfor %}
{%- endmacro %}

{% macro cdc_current_state(system, source_table, columns) %}
with changes as (
    select * from {{ source('cdc', system ~ '_changes') }}
    where source_table = '{{ source_table }}'
),

latest as (
    select *
    from changes
    qualify row_number() over (partition by key order by seq desc) = 1
),

final as (
    select
        {{ cdc_columns(columns) }}
        seq as cdc_seq,
        source_ts as cdc_source_ts
    from latest
    where op <> 'd' and after is not null
)

select * from final
{% endmacro %}

{% macro cdc_versions(system, source_table, columns) %}
with changes as (
    select * from {{ source('cdc', system ~ '_changes') }}
    where source_table = '{{ source_table }}'
),

distinct_changes as (
    -- the same seq delivered twice is one change
    select *
    from changes
    qualify row_number() over (partition by key, seq order by ingested_at) = 1
),

final as (
    select
        {{ cdc_columns(columns) }}
        key as cdc_key,
        op as cdc_op,
        seq as cdc_seq,
        source_ts as cdc_source_ts
    from distinct_changes
    where op <> 'd' and after is not null
)

select * from final
{% endmacro %}
