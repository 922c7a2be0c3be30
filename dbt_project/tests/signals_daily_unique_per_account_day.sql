{{ config(tags=['full_scan']) }}
-- account_signals_daily has exactly one row per account per day.
select account_id, signal_date, count(*) as rows_for_key
from {{ ref('account_signals_daily') }}
group by account_id, signal_date
having count(*) > 1
