{#-
  Reading the change tables.

  CDC is at-least-once: the same change can arrive twice, rows of one key can arrive out of order,
  whole batches can arrive late, a source can be re-snapshotted. The latest change per key by
  `seq` (the source position) wins; a delete, or a tombstone (`after` null), removes the key. So
  replaying any batch, in any order, gives the same state.

  Which rows a run processes is decided outside dbt (healthwatch.batches): `ops.change_batch`
  holds the seq ranges of the pending rows of each change table.
-#}

{#- The contract columns of a JSON image, typed: cdc_columns('after', {'account_id': 'varchar', ...}),
    all from one parse. `paths` reads a column from elsewhere in the image than its name,
    e.g. {'feature': 'properties.feature'}. -#}
{% macro cdc_columns(image, columns, paths={}) -%}
    {%- set scalars = [] %}
    {%- for name, type in columns.items() if type != 'json' %}{% do scalars.append(paths.get(name, name)) %}{% endfor %}
    {%- set texts = json_texts(image, scalars) %}
    {%- for name, type in columns.items() %}
        {%- if type == 'json' %}
        json_extract({{ image }}, '$.{{ paths.get(name, name) }}') as {{ name }},
        {%- else %}
        cast({{ texts[paths.get(name, name)] }} as {{ type }}) as {{ name }},
        {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#- The lowest seq of the pending batch of a change table, as a literal (lets DuckDB skip old row
    groups); 0 when the batch has none of it. -#}
{% macro batch_min_seq(system) -%}
    {%- set first = batch_first_seq(system) -%}
    {{- 0 if first is none else first -}}
{%- endmacro %}

{#- The same as a value: none when the batch has no rows of the change table (or while parsing). -#}
{% macro batch_first_seq(system) -%}
    {{- return(batch_seq(system, 'min(first_seq)')) -}}
{%- endmacro %}

{#- The highest seq of the pending batch of a change table; none as above. -#}
{% macro batch_last_seq(system) -%}
    {{- return(batch_seq(system, 'max(last_seq)')) -}}
{%- endmacro %}

{% macro batch_seq(system, aggregate) -%}
    {%- if execute -%}
        {%- set result = run_query(
            "select " ~ aggregate ~ " from " ~ source('ops', 'change_batch')
            ~ " where change_table = 'cdc." ~ system ~ "_changes'") -%}
        {{- return(result.columns[0].values()[0]) -}}
    {%- endif -%}
    {{- return(none) -}}
{%- endmacro %}

{#- Not a row the screen quarantined (data_quality/quarantine.py): identified by seq and ingestion time,
    so a redelivery of the same change that passes is still read. -#}
{% macro not_quarantined(system, alias) -%}
    not exists (
        select 1 from {{ source('quarantine', system ~ '_changes') }} as refused
        where refused.seq = {{ alias }}.seq and refused.ingested_at = {{ alias }}.ingested_at
    )
{%- endmacro %}

{#- The change rows of one system to process: the pending batch, or every row when `batch_only`
    is false and the model is being built from scratch (first run or --full-refresh). -#}
{% macro cdc_changes(system, batch_only=false) -%}
    {%- if batch_only or is_incremental() %}
    (
        select changes.*
        from {{ source('cdc', system ~ '_changes') }} as changes
        inner join {{ source('ops', 'change_batch') }} as batch
            on batch.change_table = 'cdc.{{ system }}_changes'
            and changes.seq between batch.first_seq and batch.last_seq
        where changes.seq >= {{ batch_min_seq(system) }}
            and {{ not_quarantined(system, 'changes') }}
    )
    {%- else %}
    (
        select changes.*
        from {{ source('cdc', system ~ '_changes') }} as changes
        where {{ not_quarantined(system, 'changes') }}
    )
    {%- endif %}
{%- endmacro %}

{#-
  Body of a `base_<system>__<table>` model: the latest change per key by seq, kept incrementally.
  A run reads only the pending batch, and appends an image only when it is newer than the staged
  one (so a late, older change never wins); the post-hook `drop_superseded_changes` then removes
  the images it replaced. Deletes stay as rows with is_deleted, so a later replay of an old insert
  cannot bring a deleted key back; the `stg_` view on top shows the live rows.
-#}
{% macro cdc_latest_changes(system, source_table, columns) %}
with changes as (
    select * from {{ cdc_changes(system) }}
    where source_table = '{{ source_table }}'
),

latest as (
    -- ties on seq are the same change delivered twice; ingested_at makes the pick deterministic
    select *
    from changes
    qualify row_number() over (partition by key order by seq desc, ingested_at desc) = 1
),

images as (
    select
        key as cdc_key,
        {{ cdc_columns('coalesce(after, before)', columns) }}
        (op = 'd' or after is null) as is_deleted,
        seq as cdc_seq,
        source_ts as cdc_source_ts
    from latest
),

final as (
    select *
    from images
    {%- if is_incremental() %}
    where not exists (
        select 1 from {{ this }} as staged
        where staged.cdc_key = images.cdc_key and staged.cdc_seq >= images.cdc_seq
    )
    {%- endif %}
)

select * from final
{% endmacro %}

{% macro cdc_versions(system, source_table, columns) %}
with changes as (
    select * from {{ source('cdc', system ~ '_changes') }} as changes
    where source_table = '{{ source_table }}' and {{ not_quarantined(system, 'changes') }}
),

distinct_changes as (
    -- the same seq delivered twice is one change
    select *
    from changes
    qualify row_number() over (partition by key, seq order by ingested_at) = 1
),

final as (
    select
        {{ cdc_columns('after', columns) }}
        key as cdc_key,
        op as cdc_op,
        seq as cdc_seq,
        source_ts as cdc_source_ts
    from distinct_changes
    where op <> 'd' and after is not null
)

select * from final
{% endmacro %}

{#-
  Day-level versions of a dimension table: for each key, which image held on which days
  (valid_from_date inclusive, valid_to_date exclusive, null = still valid), the last change of a
  day winning. The first version is valid from the beginning of time, so a row loaded later
  still describes the days before it was loaded. Signals read dimensions through these, so a
  change alters the days from when it happened, never the past.
-#}
{% macro cdc_daily_versions(system, source_table, columns) %}
with changes as (
    select * from {{ source('cdc', system ~ '_changes') }} as changes
    where source_table = '{{ source_table }}' and {{ not_quarantined(system, 'changes') }}
    {%- if is_incremental() %}
        -- every change of the keys the batch touches: their versions are recomputed whole and
        -- replace the kept ones (delete+insert on cdc_key); other keys are not read
        and key in (select key from {{ ref('int_pending_changes') }} where source_table = '{{ source_table }}')
    {%- endif %}
),

last_of_day as (
    select *, cast(source_ts as date) as change_date
    from changes
    qualify row_number() over (
        partition by key, cast(source_ts as date) order by seq desc, ingested_at desc
    ) = 1
),

final as (
    select
        {{ cdc_columns('after', columns) }}
        key as cdc_key,
        (op = 'd' or after is null) as is_deleted,
        case
            when row_number() over (partition by key order by change_date) = 1 then cast('1900-01-01' as date)
            else change_date
        end as valid_from_date,
        lead(change_date) over (partition by key order by change_date) as valid_to_date
    from last_of_day
)

select * from final
{% endmacro %}

{#- For a change row (with `before` and `after` images): when `column` changed, or the row is new
    or deleted, the earlier of its old and new values taken from `date_column` (default: the
    column itself); else null, so an unchanged old date never widens what a run recomputes. -#}
{% macro moved_to_or_from(column, date_column=none) -%}
    case
        when before is null or after is null
            or {{ json_text('before', column) }} is distinct from {{ json_text('after', column) }}
            then least(
                cast({{ json_text('after', date_column or column) }} as timestamp),
                cast({{ json_text('before', date_column or column) }} as timestamp)
            )
    end
{%- endmacro %}

{#- The earliest event time in the pending product batch (either image), as a timestamp literal:
    an event already staged with the same id has the same time, so the upsert needs to look at
    staged events from then on only. -#}
{% macro batch_min_event_ts() -%}
    {%- if execute -%}
        {%- set result = run_query(
            "select min(least(cast(json_extract_string(after, '$.ts') as timestamp), "
            ~ "cast(json_extract_string(before, '$.ts') as timestamp))) from "
            ~ cdc_changes('product', batch_only=true) ~ " as pending where source_table = 'events'") -%}
        {%- set first = result.columns[0].values()[0] -%}
        cast('{{ first if first is not none else "9999-12-31" }}' as timestamp)
    {%- else -%}
        cast('1970-01-01' as timestamp)
    {%- endif -%}
{%- endmacro %}
