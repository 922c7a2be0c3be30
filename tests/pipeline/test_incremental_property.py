"""Incremental runs equal a full refresh, whatever CDC does to the batches.

The last days of a simulated change log are delivered in random batches — shuffled, split
anywhere, delivered out of order, with duplicates, deletes and a re-snapshot mixed in — and the
signal tables are built incrementally after each one. At the end a full refresh of the same
change tables must give exactly the same tables. Delivered a day at a time instead, every run is
a roll whose accounts the signal mart aggregates rather than windows; that path must equal a full
refresh too, for an account a few days old and events outside an account's span. With seed 1
the incremental side builds the signal marts in parts of a few accounts (macros/parts.sql) and
its first build of int_usage_daily in parts of 25 days (1,000 account-days / 40 accounts: four
parts), and the full refresh builds everything in one part.
"""

import json
import random
import shutil
from datetime import date, datetime, time, timedelta
from pathlib import Path

import duckdb
import pytest

from healthwatch.config import Settings
from healthwatch.warehouse import SOURCE_SYSTEMS, change_table

from dbt_runner import build_signals
from tests_support import in_parts, rounded_rows, settings_at, simulate_into

STREAMED_DAYS = 8
ROLLED_DAYS = 3
NEW_ACCOUNT = "ACC-90001"
TABLES = [
    "staging.stg_product__events",
    "staging.stg_crm__account_versions",
    "staging.stg_crm__contact_versions",
    "intermediate.int_usage_daily",
    "intermediate.int_support_ticket_sentiment",
    "intermediate.int_support_daily",
    "intermediate.int_engagement_daily",
    "signals.account_signals_daily",
    "signals.account_baselines",
    "signals.account_features",
]


def _comparable(rows: list[tuple]) -> list[tuple]:
    lists_sorted = [tuple(tuple(sorted(v)) if isinstance(v, list) else v for v in row) for row in rows]
    return sorted(rounded_rows(lists_sorted), key=repr)


def _snapshot(warehouse: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {table: _comparable(con.execute(f"select * from {table}").fetchall()) for table in TABLES}


@pytest.fixture(scope="module")
def source_log(tmp_path_factory) -> Path:
    """A simulated change log to replay from."""
    settings = settings_at(tmp_path_factory.mktemp("source") / "warehouse.duckdb")
    simulate_into(settings, accounts=40, days=90, seed=21)
    return settings.warehouse


def _hold_back(con: duckdb.DuckDBPyConnection, days: int = STREAMED_DAYS) -> dict[str, list[int]]:
    """Remove the change rows of the last `days` days from the change tables; return their seqs per
    table, to be delivered later."""
    held: dict[str, list[int]] = {}
    for system in SOURCE_SYSTEMS:
        table = change_table(system)
        held[table] = [
            seq
            for (seq,) in con.execute(
                f"select seq from {table} "
                f"where source_ts >= (select max(source_ts) from {table}) - interval {days} day"
            ).fetchall()
        ]
        con.execute(f"delete from {table} where seq in (select unnest(?))", [held[table]])
    return held


def _extra_changes(con: duckdb.DuckDBPyConnection, rng: random.Random) -> list[tuple[str, tuple]]:
    """Deletes of a few delivered events and a re-snapshot of some accounts, with new seqs."""
    extra: list[tuple[str, tuple]] = []
    events = con.execute(
        "select key, after, source_ts from cdc.product_changes where op = 'c' order by seq desc limit 400"
    ).fetchall()
    (next_seq,) = con.execute("select max(seq) + 1000000 from cdc.product_changes").fetchall()[0]
    for offset, (key, after, source_ts) in enumerate(rng.sample(events, 5)):
        extra.append(
            (
                "cdc.product_changes",
                (next_seq + offset, "events", "d", key, after, None, source_ts, source_ts),
            )
        )
    accounts = con.execute(
        "select key, after, source_ts from cdc.crm_changes where source_table = 'accounts' "
        "qualify row_number() over (partition by key order by seq desc) = 1"
    ).fetchall()
    (next_seq,) = con.execute("select max(seq) + 1000000 from cdc.crm_changes").fetchall()[0]
    for offset, (key, after, source_ts) in enumerate(rng.sample(accounts, 6)):
        image = json.loads(after)
        extra.append(
            ("cdc.crm_changes", (next_seq + offset, "accounts", "r", key, None, after, source_ts, source_ts))
        )
        assert image["account_id"] == key
    return extra


def _deliver(con: duckdb.DuckDBPyConnection, table: str, seqs: list[int]) -> None:
    """Append these rows of the attached `source` log to their change table, as CDC delivers them."""
    con.execute(
        f"insert into {table} select * from source.{table} where seq in (select unnest(?)) order by seq",
        [seqs],
    )


def _insert(con: duckdb.DuckDBPyConnection, changes: list[tuple[str, tuple]]) -> None:
    """Append change rows made by the test (table, values) to their change tables."""
    for table, values in changes:
        con.execute(f"insert into {table} values (?, ?, ?, ?, ?, ?, ?, ?)", list(values))


# 40 accounts of about 90 days: parts of 1,000 account-days are four or five parts.
@pytest.mark.parametrize(("seed", "part_account_days"), [(1, 1_000), (2, None)])
def test_random_batches_end_equal_to_a_full_refresh(source_log, tmp_path, seed, part_account_days) -> None:
    rng = random.Random(seed)
    incremental = settings_at(tmp_path / "incremental" / "warehouse.duckdb")
    if part_account_days:
        incremental = in_parts(incremental, part_account_days)
    incremental.data_dir.mkdir(parents=True)
    shutil.copy(source_log, incremental.warehouse)
    with duckdb.connect(str(incremental.warehouse)) as con:
        held = _hold_back(con)
    build_signals(incremental, tmp_path / "target", full_refresh=True)
    if part_account_days:
        with duckdb.connect(str(incremental.warehouse), read_only=True) as con:
            (parts,) = con.execute("select max(part) + 1 from intermediate.int_recompute_scope").fetchall()[0]
        assert parts >= 3

    with duckdb.connect(str(incremental.warehouse)) as con:
        con.execute(f"attach '{source_log}' as source (read_only)")
        rows = [(table, seq) for table, seqs in held.items() for seq in seqs]
        rng.shuffle(rows)  # batches arrive in any order, rows within them too
        cuts = sorted(rng.sample(range(1, len(rows)), 4))
        batches = [rows[a:b] for a, b in zip([0, *cuts], [*cuts, len(rows)], strict=True)]
        extra = _extra_changes(con, rng)

    delivered: list[tuple[str, int]] = []
    for number, batch in enumerate(batches):
        with duckdb.connect(str(incremental.warehouse)) as con:
            con.execute(f"attach '{source_log}' as source (read_only)")
            for table in {t for t, _ in batch}:
                _deliver(con, table, [seq for t, seq in batch if t == table])
            if delivered:  # at-least-once: some rows of earlier batches come again
                for table, seq in rng.sample(delivered, min(30, len(delivered))):
                    _deliver(con, table, [seq])
            if number == 2:
                _insert(con, extra)
        delivered += batch
        build_signals(incremental, tmp_path / "target")

    _assert_equal_to_a_full_refresh(incremental, tmp_path, f"incremental runs (seed {seed})")
    # the deletes and the late rows really were applied
    with duckdb.connect(str(incremental.warehouse), read_only=True) as con:
        (deleted,) = con.execute(
            "select count(*) from staging.stg_product__events where is_deleted"
        ).fetchall()[0]
    assert deleted == 5


def _assert_equal_to_a_full_refresh(incremental: Settings, tmp_path: Path, runs: str) -> None:
    """Rebuild a copy of the warehouse with a full refresh; every compared table must be equal."""
    rebuilt = settings_at(tmp_path / "full" / "warehouse.duckdb")
    rebuilt.data_dir.mkdir(parents=True)
    shutil.copy(incremental.warehouse, rebuilt.warehouse)
    build_signals(rebuilt, tmp_path / "target", full_refresh=True)
    got, want = _snapshot(incremental.warehouse), _snapshot(rebuilt.warehouse)
    for table in TABLES:
        assert got[table] == want[table], f"{table} differs after {runs}"


def _day_rows(con: duckdb.DuckDBPyConnection, held: dict[str, list[int]]) -> dict[date, dict[str, list[int]]]:
    """The held-back change rows' seqs per day (of their source time) and table."""
    days: dict[date, dict[str, list[int]]] = {}
    for table, seqs in held.items():
        for day, day_seqs in con.execute(
            f"select cast(source_ts as date), list(seq order by seq) from source.{table} "
            "where seq in (select unnest(?)) group by all",
            [seqs],
        ).fetchall():
            days.setdefault(day, {})[table] = day_seqs
    return days


def _new_account(con: duckdb.DuckDBPyConnection, created: datetime) -> list[tuple[str, tuple]]:
    """An account created on `created` with a login on its first days, and one event dated two days
    before it was created (outside its span: no signal may count it)."""
    (account,) = con.execute(
        "select after from cdc.crm_changes where source_table = 'accounts' and after is not null limit 1"
    ).fetchall()[0]
    (login,) = con.execute(
        "select after from cdc.product_changes where after->>'event_name' = 'login' limit 1"
    ).fetchall()[0]
    (crm_seq,) = con.execute("select max(seq) + 2000000 from cdc.crm_changes").fetchall()[0]
    (event_seq,) = con.execute("select max(seq) + 2000000 from cdc.product_changes").fetchall()[0]
    image = {**json.loads(account), "account_id": NEW_ACCOUNT, "created_at": created.isoformat()}
    rows = [
        (
            "cdc.crm_changes",
            (crm_seq, "accounts", "c", NEW_ACCOUNT, None, json.dumps(image), created, created),
        )
    ]
    for offset, days in enumerate((-2, 0, 1)):
        ts = created + timedelta(days=days, hours=2)
        event = {
            **json.loads(login),
            "event_id": f"EVT-NEW-{offset}",
            "account_id": NEW_ACCOUNT,
            "ts": ts.isoformat(),
        }
        rows.append(
            (
                "cdc.product_changes",
                (event_seq + offset, "events", "c", event["event_id"], None, json.dumps(event), ts, ts),
            )
        )
    return rows


def test_day_by_day_rolls_end_equal_to_a_full_refresh(source_log, tmp_path) -> None:
    incremental = settings_at(tmp_path / "incremental" / "warehouse.duckdb")
    incremental.data_dir.mkdir(parents=True)
    shutil.copy(source_log, incremental.warehouse)
    with duckdb.connect(str(incremental.warehouse)) as con:
        held = _hold_back(con, ROLLED_DAYS)
        con.execute(f"attach '{source_log}' as source (read_only)")
        by_day = _day_rows(con, held)
        days = sorted(by_day)
        # created the day before the first rolled day: at most 3 days old, so its 7 days before
        # the last 7 hold none of its days
        new_account = _new_account(con, datetime.combine(days[0] - timedelta(days=1), time(9)))
    build_signals(incremental, tmp_path / "target", full_refresh=True)

    for number, day in enumerate(days):
        with duckdb.connect(str(incremental.warehouse)) as con:
            con.execute(f"attach '{source_log}' as source (read_only)")
            for table, seqs in sorted(by_day[day].items()):
                _deliver(con, table, seqs)
            if number == 0:
                _insert(con, new_account)
        build_signals(incremental, tmp_path / "target")

    _assert_equal_to_a_full_refresh(incremental, tmp_path, "day-by-day runs")
    with duckdb.connect(str(incremental.warehouse), read_only=True) as con:
        new_rows = con.execute(
            "select signal_date, logins, logins_7d, logins_prev_7d, last_login_date "
            "from signals.account_signals_daily where account_id = ? order by signal_date",
            [NEW_ACCOUNT],
        ).fetchall()
    created = days[0] - timedelta(days=1)
    assert [row[0] for row in new_rows] == [created, *days]
    # the event before the account's creation is not counted, and a frame without days is null
    assert [(row[2], row[3], row[4]) for row in new_rows] == [
        (1, None, created),
        (2, None, days[0]),
        *[(2, None, days[0])] * (len(days) - 1),
    ]
