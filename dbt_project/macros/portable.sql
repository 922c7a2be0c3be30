{#-
  The few engine-specific expressions, kept here so the models stay portable: another adapter
  gets its own `<adapter>__` implementation of each macro and no model changes.
-#}

{#- One row per day from start to end (both inclusive), as column `day`. Arguments are SQL expressions. -#}
{% macro day_spine(start_date, end_date) -%}
    {{ return(adapter.dispatch('day_spine', 'healthwatch')(start_date, end_date)) }}
{%- endmacro %}

{% macro duckdb__day_spine(start_date, end_date) -%}
    select cast(unnest(generate_series(cast({{ start_date }} as date), cast({{ end_date }} as date), interval 1 day)) as date) as day
{%- endmacro %}

{#- A JSON field as text, e.g. json_text('properties', 'feature'). -#}
{% macro json_text(column, field) -%}
    {{ return(adapter.dispatch('json_text', 'healthwatch')(column, field)) }}
{%- endmacro %}

{% macro duckdb__json_text(column, field) -%}
    json_extract_string({{ column }}, '$.{{ field }}')
{%- endmacro %}

{#- Several fields of one JSON document as text: {field: SQL expression}. The expressions are
    parts of one extraction, so the document is parsed once per row, not once per field. -#}
{% macro json_texts(column, fields) -%}
    {{ return(adapter.dispatch('json_texts', 'healthwatch')(column, fields)) }}
{%- endmacro %}

{% macro duckdb__json_texts(column, fields) -%}
    {%- set paths = [] %}
    {%- for field in fields %}{% do paths.append("'$." ~ field ~ "'") %}{% endfor %}
    {%- set texts = {} %}
    {%- for field in fields %}
        {#- identical expressions are computed once per row (DuckDB's common subexpressions) -#}
        {%- do texts.update({field: "json_extract_string(" ~ column ~ ", [" ~ paths | join(", ") ~ "])[" ~ loop.index ~ "]"}) %}
    {%- endfor %}
    {{ return(texts) }}
{%- endmacro %}

{#- The day of the week of a date, as a number (any numbering: it only groups same weekdays). -#}
{% macro day_of_week(date) -%}
    {{ return(adapter.dispatch('day_of_week', 'healthwatch')(date)) }}
{%- endmacro %}

{% macro duckdb__day_of_week(date) -%}
    dayofweek({{ date }})
{%- endmacro %}

{#- The values of the given SQL expressions that are not null, as a list (in the order given). -#}
{% macro non_null_list(expressions) -%}
    {{ return(adapter.dispatch('non_null_list', 'healthwatch')(expressions)) }}
{%- endmacro %}

{% macro duckdb__non_null_list(expressions) -%}
    list_filter([{{ expressions | join(', ') }}], lambda x: x is not null)
{%- endmacro %}

{#- Number of elements of a list. -#}
{% macro list_size(values) -%}
    {{ return(adapter.dispatch('list_size', 'healthwatch')(values)) }}
{%- endmacro %}

{% macro duckdb__list_size(values) -%}
    coalesce(len({{ values }}), 0)
{%- endmacro %}

{#- Whether a list holds a value (false for a null list). -#}
{% macro list_has(values, value) -%}
    {{ return(adapter.dispatch('list_has', 'healthwatch')(values, value)) }}
{%- endmacro %}

{% macro duckdb__list_has(values, value) -%}
    coalesce(list_contains({{ values }}, {{ value }}), false)
{%- endmacro %}

{#- Aggregate: the latest non-null `value` (by `order`) among the rows where `condition` holds. -#}
{% macro last_non_null(value, order, condition) -%}
    {{ return(adapter.dispatch('last_non_null', 'healthwatch')(value, order, condition)) }}
{%- endmacro %}

{% macro duckdb__last_non_null(value, order, condition) -%}
    arg_max({{ value }}, {{ order }}) filter (where {{ condition }} and {{ value }} is not null)
{%- endmacro %}

{#- One row per element of a list column, in a select list: `select id, list_elements('tags') as tag from t`. -#}
{% macro list_elements(values) -%}
    {{ return(adapter.dispatch('list_elements', 'healthwatch')(values)) }}
{%- endmacro %}

{% macro duckdb__list_elements(values) -%}
    unnest({{ values }})
{%- endmacro %}

{#- Union two selects matching columns by name, filling absent ones with null. -#}
{% macro union_all_by_name() -%}
    {{ return(adapter.dispatch('union_all_by_name', 'healthwatch')()) }}
{%- endmacro %}

{% macro duckdb__union_all_by_name() -%}
    union all by name
{%- endmacro %}

{#- A value's 64-bit hash, to group many long keys cheaply where the groups are then checked on
    the keys themselves: equal keys hash equal, different ones may (rarely) collide. Elsewhere
    the key itself. -#}
{% macro key_hash(value) -%}
    {{ return(adapter.dispatch('key_hash', 'healthwatch')(value)) }}
{%- endmacro %}

{% macro default__key_hash(value) -%}
    {{ value }}
{%- endmacro %}

{% macro duckdb__key_hash(value) -%}
    hash({{ value }})
{%- endmacro %}

{#-
  Written between `as` and the body of a CTE that several parts of a model read: asks the engine to
  recompute it in each, instead of storing it whole first. DuckDB stores such a CTE by default;
  for a scan of millions of change rows with their JSON images that is gigabytes of spill (and
  half the time of the product events' full build at 10,000 accounts). Empty where CTEs are inlined.
-#}
{% macro inline_cte() -%}
    {{ return(adapter.dispatch('inline_cte', 'healthwatch')()) }}
{%- endmacro %}

{% macro default__inline_cte() -%}{%- endmacro %}

{% macro duckdb__inline_cte() -%}
    not materialized
{%- endmacro %}

{#- dbt's `unique` test, on DuckDB (found through the `dispatch` search order in dbt_project.yml):
    the values are grouped by a 64-bit hash first and compared as values only where a hash is
    seen twice (a duplicate, or a collision the second step tells apart). Grouping the values
    themselves hashes and compares every string: at 100,000 accounts the 85 M event ids of a full
    build took 17-18 s alone, 9-11 s this way, on the build's longest path. -#}
{% macro duckdb__test_unique(model, column_name) %}
with repeated_hashes as (
    select {{ key_hash(column_name) }} as value_hash
    from {{ model }}
    where {{ column_name }} is not null
    group by 1
    having count(*) > 1
)

select
    {{ column_name }} as unique_field,
    count(*) as n_records
from {{ model }}
where {{ column_name }} is not null
    and {{ key_hash(column_name) }} in (select value_hash from repeated_hashes)
group by {{ column_name }}
having count(*) > 1
{% endmacro %}
