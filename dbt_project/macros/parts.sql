{#-
  The signal marts are rebuilt in parts of whole accounts. A window function holds all of its
  input in memory and DuckDB cannot spill it to disk, so one statement over every account-day
  needs memory in proportion to the history (about 1.2 GB per million account-days): a full
  refresh of 10,000 accounts over two years does not fit in 4 GB. Built in parts, the memory a
  statement needs is bounded by var('signals_part_account_days') whatever the history.

  How: int_recompute_scope numbers the parts (build_part). A model built in parts reads only the
  scope rows of current_part(); its pre-hook starts at part 0, its own statement builds part 0,
  and its post-hook (build_remaining_parts) runs the same compiled statement again for each
  later part, inside the same transaction (a crash leaves no half-built table).
  Server engines spill windows, so on other adapters everything is one part.
-#}

{#- The part of an account (rows in `order_column` order; `size_column` account-days each). -#}
{% macro build_part(order_column, size_column) -%}
    {{ return(adapter.dispatch('build_part')(order_column, size_column)) }}
{%- endmacro %}

{% macro duckdb__build_part(order_column, size_column) -%}
    cast(floor(
        1.0 * (sum({{ size_column }}) over (order by {{ order_column }} rows unbounded preceding) - {{ size_column }})
        / {{ var('signals_part_account_days') }}
    ) as integer)
{%- endmacro %}

{% macro default__build_part(order_column, size_column) -%}
    0
{%- endmacro %}

{#- The part the running statement builds (0 outside a build in parts, e.g. in a unit test). -#}
{% macro current_part() -%}
    {{ return(adapter.dispatch('current_part')()) }}
{%- endmacro %}

{% macro duckdb__current_part() -%}
    coalesce(getvariable('healthwatch_build_part'), 0)
{%- endmacro %}

{% macro default__current_part() -%}
    0
{%- endmacro %}

{#- Sets the part to build; the pre-hook sets 0, which the model's own statement builds. -#}
{% macro set_build_part(part=0) -%}
    {{ return(adapter.dispatch('set_build_part')(part)) }}
{%- endmacro %}

{#- On DuckDB it also sets the first and last account of that part of the scope, for
    in_part_accounts (int_usage_daily's parts are days: it does not read them). -#}
{% macro duckdb__set_build_part(part) -%}
    set variable healthwatch_build_part = {{ part }};
    set variable healthwatch_part_accounts = (
        select [min(account_id), max(account_id)] from {{ ref('int_recompute_scope') }} where part = {{ part }}
    )
{%- endmacro %}

{% macro default__set_build_part(part) -%}
{%- endmacro %}

{#- Whether an account id can be in the running part: the part's first and last account as
    constants (parts are ranges of account ids), so a scan skips other accounts' row groups
    before its join with the scope, which alone reads them all (at 100,000 accounts, 0.6 s of
    int_usage_daily per part). True outside a build in parts (a unit test). -#}
{% macro in_part_accounts(column) -%}
    {{ return(adapter.dispatch('in_part_accounts')(column)) }}
{%- endmacro %}

{% macro duckdb__in_part_accounts(column) -%}
    (getvariable('healthwatch_part_accounts') is null
        or {{ column }} between getvariable('healthwatch_part_accounts')[1]
            and getvariable('healthwatch_part_accounts')[2])
{%- endmacro %}

{% macro default__in_part_accounts(column) -%}
    true
{%- endmacro %}

{#- Post-hook: the model's statement again for every later part (by default, of the scope). -#}
{% macro build_remaining_parts(last_part=none) -%}
    {%- if execute -%}
        {%- set last = last_part -%}
        {%- if last is none -%}
            {%- set result = run_query("select max(part) from " ~ ref('int_recompute_scope')) -%}
            {%- set last = result.columns[0].values()[0] -%}
        {%- endif -%}
        {#- by name: a contract orders the table's columns, not the statement -#}
        {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='quoted') | join(', ') -%}
        {%- for part in range(1, (last or 0) + 1) -%}
            {%- do run_query(set_build_part(part)) -%}
            {%- do run_query("insert into " ~ this ~ " (" ~ columns ~ ") select " ~ columns
                ~ " from (" ~ model.compiled_code ~ ") as part_rows") -%}
            {%- do log(this ~ ": part " ~ (part + 1) ~ " of " ~ (last + 1) ~ " built", info=true) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#-
  int_usage_daily is built in parts of consecutive days instead: its aggregate holds each
  account-day's user and feature lists and latency percentile in memory (at 100,000 accounts ×
  365 days, more than 2.3 GB), and its input, the product events, is stored in time order, so a
  part of days reads only its own row groups where a part of accounts would read them all.
  A part holds at most var('signals_part_account_days') account-days of the accounts whose usage
  is rebuilt. Returns the first day ('first', a date literal; none when no usage is rebuilt),
  the days per part and the number of parts.
-#}
{% macro usage_parts() -%}
    {%- set none_to_build = {'first': none, 'days': 1, 'parts': 1} -%}
    {%- if not execute -%}{{ return(none_to_build) }}{%- endif -%}
    {%- set result = run_query(
        "select min(scope.usage_recompute_from), count(*), "
        ~ dbt.datediff('min(scope.usage_recompute_from)', 'max(clock.as_of_date)', 'day')
        ~ " from " ~ ref('int_recompute_scope') ~ " as scope cross join " ~ ref('stg_cdc__clock') ~ " as clock"
        ~ " where scope.usage_recompute_from is not null"
    ) -%}
    {%- set first, accounts, span = result.rows[0] -%}
    {%- if first is none -%}{{ return(none_to_build) }}{%- endif -%}
    {%- set days = usage_days_per_part(accounts) | int -%}
    {{ return({'first': first, 'days': days, 'parts': ([span, 0] | max) // days + 1}) }}
{%- endmacro %}

{% macro usage_days_per_part(accounts) -%}
    {{ return(adapter.dispatch('usage_days_per_part')(accounts)) }}
{%- endmacro %}

{% macro duckdb__usage_days_per_part(accounts) -%}
    {{ return([1, var('signals_part_account_days') // accounts] | max) }}
{%- endmacro %}

{% macro default__usage_days_per_part(accounts) -%}
    {{ return(1000000) }}
{%- endmacro %}

{#- The bounds of the running part of days (usage_parts): the first part is open below and the
    last above, so no event is left out whatever its time. Constant within a statement (DuckDB
    folds the part variable), so the scan skips the row groups outside it. -#}
{% macro usage_part_filter(usage, time_column) -%}
    {%- set first = "cast('" ~ (usage.first or '1970-01-01') ~ "' as timestamp)" -%}
    ({{ current_part() }} = 0
        or {{ time_column }} >= {{ dbt.dateadd('day', current_part() ~ ' * ' ~ usage.days, first) }})
    and ({{ current_part() }} = {{ usage.parts - 1 }}
        or {{ time_column }} < {{ dbt.dateadd('day', '(' ~ current_part() ~ ' + 1) * ' ~ usage.days, first) }})
{%- endmacro %}
