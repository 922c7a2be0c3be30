-- account_signals_daily has exactly one row per account per day.
select account_id, signal_date, count(*) as rows_for_key
from {{ ref('account_signals_daily') }}
-- only the rows this run rebuilt (all of them on a full refresh)
where signal_date >= (select coalesce(min(recompute_from), cast('1900-01-01' as date)) from {{ ref('int_recompute_scope') }})
group by account_id, signal_date
having count(*) > 1
