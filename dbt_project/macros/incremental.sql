{#-
  Incremental runs recompute, per account, every day from the first day its changes touch
  (`intermediate.int_recompute_scope`): rows on and after that day are deleted, then rebuilt.
  A first run or --full-refresh builds everything and never reads the scope.
-#}

{#- Pre-hook: delete the rows a run rebuilds (scope_column: recompute_from or usage_recompute_from).
    The literal lower bound lets the scan skip the row groups of older days without probing the
    scope for each of their rows (the tables grow with the history; a run's scope does not). -#}
{% macro delete_recompute_scope(date_column, scope_column='recompute_from') -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as target
    where target.{{ date_column }} >= {{ scope_start(0, scope_column) }}
        and exists (
            select 1 from {{ ref('int_recompute_scope') }} as scope
            where scope.account_id = target.account_id and target.{{ date_column }} >= scope.{{ scope_column }}
        )
    {%- endif -%}
{%- endmacro %}

{#- The earliest day any account is recomputed from, as a literal date, minus `lookback_days`. -#}
{% macro scope_start(lookback_days=0, scope_column='recompute_from') -%}
    {%- if execute -%}
        {%- set result = run_query("select min(" ~ scope_column ~ ") from " ~ ref('int_recompute_scope')) -%}
        {%- set first = result.columns[0].values()[0] -%}
        {%- if first is none -%}
            cast('9999-12-31' as date)
        {%- else -%}
            {#- a date, not dateadd's timestamp: compared with a date column, the scan can skip row groups -#}
            cast({{ dbt.dateadd('day', -lookback_days, "cast('" ~ first ~ "' as date)") }} as date)
        {%- endif -%}
    {%- else -%}
        cast('1970-01-01' as date)
    {%- endif -%}
{%- endmacro %}

{#- The account_signals_daily table as built by earlier runs (none before the first build or on a
    full refresh). Read by relation, not ref(): it is downstream of the scope that reads it. -#}
{% macro built_signals_relation() -%}
    {%- if not execute or flags.FULL_REFRESH -%}{{ return(none) }}{%- endif -%}
    {{ return(adapter.get_relation(database=target.database, schema='signals', identifier='account_signals_daily')) }}
{%- endmacro %}

{#- Post-hook of stg_product__events: after new images are appended, drop the staged copies they
    replace (same event_id, lower seq), looking only at events from the batch's earliest time. -#}
{% macro drop_superseded_events() -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as staged
    where staged.ts >= {{ batch_min_event_ts() }}
        and exists (
            select 1 from {{ this }} as newer
            where newer.event_id = staged.event_id
                and newer.cdc_seq > staged.cdc_seq
                and newer.ts >= {{ batch_min_event_ts() }}
        )
    {%- endif -%}
{%- endmacro %}

{#- Post-hook of the base_ models: drop the images of this batch's keys that a newer one replaced. -#}
{% macro drop_superseded_changes(system, source_table) -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as staged
    where staged.cdc_key in (
        select key from {{ cdc_changes(system, batch_only=true) }} as pending
        where source_table = '{{ source_table }}'
    )
        and exists (
            select 1 from {{ this }} as newer
            where newer.cdc_key = staged.cdc_key and newer.cdc_seq > staged.cdc_seq
        )
    {%- endif -%}
{%- endmacro %}
