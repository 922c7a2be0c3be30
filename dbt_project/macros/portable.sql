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

{#-
  The values of `value` on the previous `weeks` same weekdays of each account (a dense daily series
  keyed by account_id, signal_date), as a list: the samples of the account's weekday-aware normal.
-#}
{% macro weekday_history(value, weeks=4) -%}
    {{ return(adapter.dispatch('weekday_history', 'healthwatch')(value, weeks)) }}
{%- endmacro %}

{% macro duckdb__weekday_history(value, weeks) -%}
    list({{ value }}) over (
        partition by account_id, dayofweek(signal_date)
        order by signal_date
        rows between {{ weeks }} preceding and 1 preceding
    )
{%- endmacro %}

{#- Median of a list of numbers (null for an empty list). -#}
{% macro list_median(values) -%}
    {{ return(adapter.dispatch('list_median', 'healthwatch')(values)) }}
{%- endmacro %}

{% macro duckdb__list_median(values) -%}
    list_median({{ values }})
{%- endmacro %}

{#- Median absolute deviation from the median of a list of numbers. -#}
{% macro list_mad(values) -%}
    {{ return(adapter.dispatch('list_mad', 'healthwatch')(values)) }}
{%- endmacro %}

{% macro duckdb__list_mad(values) -%}
    list_median(list_transform({{ values }}, lambda v: abs(v - list_median({{ values }}))))
{%- endmacro %}
