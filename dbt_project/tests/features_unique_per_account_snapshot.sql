{{ config(tags=['full_scan']) }}
-- account_features has exactly one row per account per snapshot date.
select account_id, snapshot_date, count(*) as rows_for_key
from {{ ref('account_features') }}
group by account_id, snapshot_date
having count(*) > 1
