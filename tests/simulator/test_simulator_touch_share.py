"""A streamed day that touches only a share of the accounts (the scale benchmark's "1% day")."""

from pathlib import Path

import duckdb
import pytest

from healthwatch.errors import HealthwatchError
from healthwatch.simulator import stream

from sim_helpers import build

ACCOUNTS = 400


def _accounts_with_rows_after(con: duckdb.DuckDBPyConnection, seqs: dict[str, int]) -> set[str]:
    accounts: set[str] = set()
    for table, seq in seqs.items():
        rows = con.execute(
            f"""select distinct coalesce(after ->> 'account_id', before ->> 'account_id')
            from {table} where seq > ? and source_table not in ('team', 'accounts')""",
            [seq],
        ).fetchall()
        accounts |= {account for (account,) in rows if account}
    return accounts


def test_a_quiet_day_changes_only_the_touched_share(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    build(path, accounts=ACCOUNTS, days=60, seed=5)
    with duckdb.connect(str(path)) as con:
        tables = [f"cdc.{s}_changes" for s in ("crm", "support", "product", "engagement")]
        before = {t: con.execute(f"select max(seq) from {t}").fetchone()[0] for t in tables}
        quiet = stream(con, days=1, touch_share=0.02)
        touched = _accounts_with_rows_after(con, before)
        events = con.execute(
            "select count(*) from cdc.product_changes where seq > ?", [before["cdc.product_changes"]]
        ).fetchone()[0]
        normal = stream(con, days=1)
    # Tickets opened earlier still close on a quiet day; new activity comes from the touched share.
    assert 0 < quiet.total_rows < normal.total_rows / 4
    assert events > 0
    # 2% of 400 is 8 on average; renewals due that day may add one or two.
    assert 0 < len(touched) <= 0.06 * ACCOUNTS


def test_touch_share_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    build(path, accounts=40, days=60, seed=5)
    with duckdb.connect(str(path)) as con, pytest.raises(HealthwatchError, match="touch_share"):
        stream(con, days=1, touch_share=0)
