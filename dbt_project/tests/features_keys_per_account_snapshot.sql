-- depends_on: {{ ref('int_recompute_scope') }}
-- account_features has exactly one row per account and snapshot date, both present, and the
-- account is a known one. One test, not four: account_features is a view, and each test that
-- reads it joins the signal marts again (0.7 s at 100,000 accounts). Only the rows this run
-- rebuilt (all of them on a full refresh), from a literal first day (scope_start) that the scans
-- of the marts can skip older row groups with: 0.26 s, where a subquery bound took 0.66 s.
select account_id, snapshot_date, count(*) as rows_for_key
from {{ ref('account_features') }}
where snapshot_date >= {{ scope_start() }}
group by account_id, snapshot_date
having count(*) > 1
    or account_id is null
    or snapshot_date is null
    or account_id not in (select accounts.account_id from {{ ref('accounts') }} as accounts)
