{#-
  The median of the first `count` of four values, without sorting or lists: `values` are four SQL
  expressions, `count` a SQL expression from 0 to 4 (null for 0). Of three values the median is
  their sum less the largest and the smallest; of four, the mean of the two that are left.
  Standard SQL on every engine (greatest / least only ever see non-null values here).
-#}
{% macro median_of_first(values, count) -%}
    {%- if values | length != 4 -%}
        {{ exceptions.raise_compiler_error("median_of_first takes four values, got " ~ (values | length)) }}
    {%- endif -%}
    {%- set a, b, c, d = values -%}
    case {{ count }}
        when 1 then 1.0 * {{ a }}
        when 2 then ({{ a }} + {{ b }}) / 2.0
        when 3 then 1.0 * ({{ a }} + {{ b }} + {{ c }} - greatest({{ a }}, {{ b }}, {{ c }}) - least({{ a }}, {{ b }}, {{ c }}))
        when 4 then ({{ a }} + {{ b }} + {{ c }} + {{ d }}
            - greatest({{ a }}, {{ b }}, {{ c }}, {{ d }}) - least({{ a }}, {{ b }}, {{ c }}, {{ d }})) / 2.0
    end
{%- endmacro %}
