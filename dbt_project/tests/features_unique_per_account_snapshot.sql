-- account_features has exactly one row per account per snapshot date.
select account_id, snapshot_date, count(*) as rows_for_key
from {{ ref('account_features') }}
-- only the rows this run rebuilt (all of them on a full refresh)
where snapshot_date >= (select coalesce(min(recompute_from), cast('1900-01-01' as date)) from {{ ref('int_recompute_scope') }})
group by account_id, snapshot_date
having count(*) > 1
