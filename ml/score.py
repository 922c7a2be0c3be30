"""Scoring: each account's latest snapshot → calibrated probability, health score, class, drivers.

Writes `scoring.account_health_scores` (one row per account, upserted) and
`scoring.account_health_score_history` (one row per account, scoring time and model version;
re-running a scoring replaces its rows, never duplicates them).
"""

import json
from collections.abc import Sequence
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from ml.explain import explain
from ml.features import latest_snapshots, to_naive_utc
from ml.model import ChurnModel

SCORES_TABLE = "scoring.account_health_scores"
HISTORY_TABLE = "scoring.account_health_score_history"
SCORE_COLUMNS = [
    "account_id",
    "scored_at",
    "as_of_date",
    "model_version",
    "churn_probability",
    "health_score",
    "health_class",
    "previous_health_class",
    "drivers",
]

_COLUMNS_DDL = """
    account_id varchar not null,
    scored_at timestamp not null,
    as_of_date date not null,
    model_version varchar not null,
    churn_probability double not null check (churn_probability between 0 and 1),
    health_score integer not null check (health_score between 0 and 100),
    health_class varchar not null check (health_class in ('Healthy', 'At-Risk', 'Critical')),
    previous_health_class varchar,
    drivers json not null"""

DDL = [
    "create schema if not exists scoring",
    f"create table if not exists {SCORES_TABLE} ({_COLUMNS_DDL},\n    primary key (account_id)\n)",
    # No primary key: its index would hold every scoring ever made in memory (2.7 GB RSS for a
    # year of daily scoring at 80,000 accounts). write_scores keeps (account_id, scored_at,
    # model_version) unique itself, deleting a re-run's rows before inserting them.
    f"create table if not exists {HISTORY_TABLE} ({_COLUMNS_DDL}\n)",
]


def ensure_scoring_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the scoring tables; a history table made with a primary key by an earlier version is
    copied once into one without (DuckDB cannot drop a constraint)."""
    for statement in DDL:
        con.execute(statement)
    schema, name = HISTORY_TABLE.split(".")
    (keyed,) = con.execute(
        "select count(*) from duckdb_constraints() "
        "where schema_name = ? and table_name = ? and constraint_type = 'PRIMARY KEY'",
        [schema, name],
    ).fetchall()[0]
    if keyed:
        con.execute("begin transaction")
        try:
            con.execute(
                f"create table {schema}._history_unkeyed as select * from {HISTORY_TABLE} order by scored_at"
            )
            con.execute(f"drop table {HISTORY_TABLE}")
            con.execute(f"alter table {schema}._history_unkeyed rename to {name}")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise


def score_frame(model: ChurnModel, snapshots: pd.DataFrame, clock: datetime) -> pd.DataFrame:
    """Score snapshot rows (pure: no I/O). `previous_health_class` is filled in when writing."""
    probability = model.predict_proba(snapshots)
    drivers = explain(model, snapshots)
    return pd.DataFrame(
        {
            "account_id": snapshots["account_id"].astype("str").to_numpy(),
            "scored_at": to_naive_utc(clock),
            "as_of_date": pd.to_datetime(snapshots["snapshot_date"]).to_numpy(),
            "model_version": model.version,
            "churn_probability": probability,
            "health_score": np.round(100 * (1 - probability)).astype("int64"),
            "health_class": model.thresholds.classify(probability),
            "drivers": [json.dumps(d) for d in drivers],
        }
    )


def write_scores(con: duckdb.DuckDBPyConnection, scores: pd.DataFrame) -> pd.DataFrame:
    """Replace this scoring's history rows and upsert the current rows, in one transaction.

    `previous_health_class` is the class of the account's latest history row scored strictly
    before this one, so a re-run of the same scoring reproduces the same value. The current row
    is the account's latest scoring, so it answers that without reading the history: its class
    when it is older than this scoring, its own previous class when it is this scoring's re-run.
    Only an account without a current row or with a newer one (a scoring at an earlier clock)
    looks in the history. The current row is replaced only by a scoring at least as recent.
    """
    ensure_scoring_tables(con)
    if scores.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    # The scoring's time span as literals (datetimes, not text from outside): the history is
    # appended in time order, so a re-run's delete skips the row groups outside it.
    first, last = (
        to_naive_utc(t).to_pydatetime() for t in (scores["scored_at"].min(), scores["scored_at"].max())
    )
    span = f"timestamp '{first.isoformat(sep=' ')}' and timestamp '{last.isoformat(sep=' ')}'"
    columns = ", ".join(SCORE_COLUMNS)
    con.register("_hw_new_scores", scores)
    try:
        con.execute("begin transaction")
        try:
            con.execute(
                f"""
                create or replace temp table _hw_scores as
                select
                    n.account_id, n.scored_at, cast(n.as_of_date as date) as as_of_date, n.model_version,
                    n.churn_probability, cast(n.health_score as integer) as health_score, n.health_class,
                    case
                        when c.scored_at < n.scored_at then c.health_class
                        when c.scored_at = n.scored_at then c.previous_health_class
                    end as previous_health_class,
                    cast(n.drivers as json) as drivers,
                    c.scored_at is null or c.scored_at > n.scored_at as from_history,
                    c.scored_at is null or c.scored_at <= n.scored_at as is_latest
                from _hw_new_scores as n
                left join {SCORES_TABLE} as c on c.account_id = n.account_id
                """
            )
            [(looked_up,)] = con.execute("select count(*) from _hw_scores where from_history").fetchall()
            if looked_up:
                con.execute(
                    f"""
                    update _hw_scores as s set previous_health_class = p.health_class
                    from (
                        select h.account_id, h.health_class
                        from {HISTORY_TABLE} as h
                        join _hw_scores as n
                            on n.from_history and n.account_id = h.account_id and h.scored_at < n.scored_at
                        qualify row_number() over (
                            partition by h.account_id order by h.scored_at desc, h.model_version desc
                        ) = 1
                    ) as p
                    where s.from_history and s.account_id = p.account_id
                    """
                )
            con.execute(
                f"""
                delete from {SCORES_TABLE}
                where account_id in (select account_id from _hw_scores where is_latest)
                """
            )
            con.execute(
                f"insert into {SCORES_TABLE} ({columns}) select {columns} from _hw_scores where is_latest"
            )
            con.execute(
                f"""
                delete from {HISTORY_TABLE} as h using _hw_scores as s
                where h.scored_at between {span}
                  and h.account_id = s.account_id and h.scored_at = s.scored_at
                  and h.model_version = s.model_version
                """
            )
            con.execute(f"insert into {HISTORY_TABLE} ({columns}) select {columns} from _hw_scores")
            written = con.execute(f"select {columns} from _hw_scores order by account_id").df()
            con.execute("drop table _hw_scores")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    finally:
        con.unregister("_hw_new_scores")
    return written


def score_accounts(
    con: duckdb.DuckDBPyConnection,
    model: ChurnModel,
    clock: datetime,
    account_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Score each account's latest snapshot dated on or before the clock's date and write the rows.

    `account_ids` limits scoring to those accounts (None: all; empty: none). Accounts already
    churned at the clock are not scored. Returns the rows written.
    """
    if account_ids is not None and len(account_ids) == 0:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    snapshots = latest_snapshots(con, clock, account_ids)
    if snapshots.empty:
        ensure_scoring_tables(con)
        return pd.DataFrame(columns=SCORE_COLUMNS)
    return write_scores(con, score_frame(model, snapshots, clock))
