"""Model inputs: the feature columns of `signals.account_features` and the labelled training set.

Features come from the mart as it stood at each snapshot date (the mart is point-in-time by
construction); labels come only from `signals.accounts.churned_at`.
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import pandas as pd

from healthwatch.errors import HealthwatchError
from healthwatch.warehouse import require_tables

FEATURES_TABLE = "signals.account_features"
ACCOUNTS_TABLE = "signals.accounts"
_BUILD_SIGNALS = "build the signals first (`healthwatch run`, or `dbt build` in dbt_project/)"

FEATURE_COLUMNS: list[str] = [
    # usage
    "logins_7d",
    "logins_wow_change",
    "logins_7d_change",
    "logins_7d_robust_z",
    "active_users_7d",
    "active_users_7d_change",
    "seat_utilisation",
    "logins_per_seat_28d",
    # the account's longer normal: last 28 days vs the 62 days before them
    "logins_28d_vs_prior_62d",
    "session_minutes_28d_vs_prior_62d",
    "core_feature_uses_28d_vs_prior_62d",
    "team_active_users_28d_vs_prior_62d",
    "core_feature_uses_7d_change",
    "core_features_used_28d",
    "core_features_abandoned_28d",
    "session_minutes_7d_change",
    "days_since_last_login",
    "api_error_rate_7d",
    "api_latency_p95_ms_7d",
    # engagement
    "champion_active_days_14d",
    "sponsor_active_days_28d",
    # support
    "tickets_7d",
    "tickets_28d",
    "tickets_escalated_28d",
    "tickets_negative_28d",
    "tickets_repeat_28d",
    "ticket_sentiment_avg_28d",
    "nps_score_last",
    "nps_change",
    "survey_response_rate_90d",
    # commercial
    "payment_failures_30d",
    "cancellation_requests_90d",
    "procurement_freezes_90d",
    "budget_owner_changes_90d",
    "champion_departures_90d",
    "days_to_renewal",
    "arr",
    "seats_purchased",
    "tenure_days",
]
CATEGORICAL_COLUMNS: list[str] = ["segment"]
# Fixed categories: LightGBM codes a pandas categorical by its category list, so training and
# scoring must use the same list whatever values a given batch happens to hold.
CATEGORIES: dict[str, list[str]] = {"segment": ["enterprise", "mid_market", "smb"]}
MODEL_COLUMNS: list[str] = FEATURE_COLUMNS + CATEGORICAL_COLUMNS
# Snapshots are weekly (Mondays) plus the clock's day: a live account's newest is at most this old.
SNAPSHOT_WEEK_DAYS = 7


def to_naive_utc(ts: datetime | pd.Timestamp) -> pd.Timestamp:
    """The warehouse stores naive UTC timestamps; bring any clock value to that form."""
    stamp = pd.Timestamp(ts)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def _check_columns(con: duckdb.DuckDBPyConnection) -> None:
    require_tables(con, FEATURES_TABLE, fix=_BUILD_SIGNALS)
    schema, name = FEATURES_TABLE.split(".")
    present = {
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()
    }
    missing = [c for c in ["account_id", "snapshot_date", *MODEL_COLUMNS] if c not in present]
    if missing:
        raise HealthwatchError(
            f"{FEATURES_TABLE} lacks the model's columns: {', '.join(missing)}",
            "rebuild the dbt marts so that they match ml/features.py (`dbt build` in dbt_project/)",
        )


def _select_list() -> str:
    numeric = ", ".join(f"cast({c} as double) as {c}" for c in FEATURE_COLUMNS)
    categorical = ", ".join(f"cast({c} as varchar) as {c}" for c in CATEGORICAL_COLUMNS)
    return f"cast(account_id as varchar) as account_id, cast(snapshot_date as date) as snapshot_date, {numeric}, {categorical}"


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for column in CATEGORICAL_COLUMNS:
        frame[column] = pd.Categorical(frame[column], categories=CATEGORIES[column])
    frame["snapshot_date"] = pd.to_datetime(frame["snapshot_date"])
    return frame


def load_snapshots(con: duckdb.DuckDBPyConnection, account_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of `signals.account_features` (all, or those of `account_ids`), typed for the
    model, ordered by date and account."""
    _check_columns(con)
    only, params = "", []
    if account_ids is not None:
        only, params = "where account_id in (select unnest(?::varchar[]))", [list(account_ids)]
    frame = con.execute(
        f"select {_select_list()} from {FEATURES_TABLE} {only} order by snapshot_date, account_id", params
    ).df()
    return _typed(frame)


def _sample_key(account_id: str) -> bytes:
    # A hash, not the id's order: ids are often assigned in signup order, which would bias a prefix.
    return hashlib.blake2b(account_id.encode(), digest_size=8).digest()


@dataclass(frozen=True)
class SnapshotSample:
    """Whole accounts whose snapshots, together, stay within a row budget."""

    account_ids: list[str]
    rows: int
    accounts_available: int
    rows_available: int

    def describe(self) -> dict[str, int]:
        return {
            "accounts": len(self.account_ids),
            "rows": self.rows,
            "accounts_available": self.accounts_available,
            "rows_available": self.rows_available,
        }


def sample_accounts(con: duckdb.DuckDBPyConnection, max_rows: int) -> SnapshotSample | None:
    """Accounts to train on when `signals.account_features` holds more than `max_rows` snapshots
    (None: it does not, use them all).

    Accounts are taken whole, in the order of a hash of their id, until the next one's
    snapshots would pass `max_rows`: the sample does not change between runs unless the accounts
    do, every sampled account keeps its whole history, and which accounts are in it does not
    depend on their segment, age or outcome. Training memory and time then stop growing with
    accounts × history.
    """
    _check_columns(con)
    counts = con.execute(
        f"select cast(account_id as varchar), count(*) from {FEATURES_TABLE} group by 1"
    ).fetchall()
    total = sum(n for _, n in counts)
    if total <= max_rows:
        return None
    chosen, rows = [], 0
    for account_id, n in sorted(counts, key=lambda row: _sample_key(row[0])):
        if rows + n > max_rows:
            break
        chosen.append(account_id)
        rows += n
    return SnapshotSample(sorted(chosen), rows, len(counts), total)


def latest_snapshots(
    con: duckdb.DuckDBPyConnection, clock: datetime, account_ids: Sequence[str] | None = None
) -> pd.DataFrame:
    """Each account's newest snapshot dated on or before the clock's date.

    Only the last SNAPSHOT_WEEK_DAYS days are read (a live account has a snapshot every Monday and
    on the clock's day), so the cost follows the number of accounts, not the length of history.
    Accounts that had churned by the clock are left out: their last snapshot predates the churn
    and a score for them would only raise alerts nobody can act on.
    """
    _check_columns(con)
    require_tables(con, ACCOUNTS_TABLE, fix=_BUILD_SIGNALS)
    clock_ts = to_naive_utc(clock).to_pydatetime()
    params: list[object] = [clock_ts.date(), clock_ts.date() - timedelta(days=SNAPSHOT_WEEK_DAYS), clock_ts]
    only = ""
    if account_ids is not None:
        only = "and f.account_id in (select unnest(?::varchar[]))"
        params.append(list(account_ids))
    frame = con.execute(
        f"""
        select {_select_list()}
        from {FEATURES_TABLE} as f
        where f.snapshot_date <= ? and f.snapshot_date >= ?
          and not exists (
              select 1 from {ACCOUNTS_TABLE} as a
              where a.account_id = f.account_id and a.churned_at <= ?
          )
          {only}
        qualify row_number() over (partition by f.account_id order by f.snapshot_date desc) = 1
        order by account_id
        """,
        params,
    ).df()
    return _typed(frame)


def load_accounts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """`account_id` and `churned_at` from `signals.accounts`: the only source of labels."""
    require_tables(con, ACCOUNTS_TABLE, fix=_BUILD_SIGNALS)
    return con.execute(
        f"select cast(account_id as varchar) as account_id, cast(churned_at as timestamp) as churned_at "
        f"from {ACCOUNTS_TABLE}"
    ).df()


def build_training_set(
    snapshots: pd.DataFrame, accounts: pd.DataFrame, horizon_days: int, clock: datetime
) -> pd.DataFrame:
    """Labelled snapshots: `label` = 1 when the account churns in (snapshot_date, snapshot_date + H].

    Censoring: a snapshot is labelled only when its whole horizon has been observed, i.e.
    snapshot_date + H <= the clock's date; later snapshots are left out, because an account that
    has not churned yet may still churn inside their window. Labels use only `churned_at` at or
    before the clock, compared by calendar date; rows whose churn date is on or before the snapshot
    date (the mart should not emit them) are dropped. Returns the snapshot columns plus
    `churned_at` (for lead-time metrics, never a feature) and `label`, ordered by date and account.
    """
    clock_ts = to_naive_utc(clock)
    last_labelled = clock_ts.normalize() - pd.Timedelta(days=horizon_days)
    churn = accounts[["account_id", "churned_at"]].drop_duplicates("account_id")
    frame = snapshots.loc[snapshots["snapshot_date"] <= last_labelled].merge(
        churn, on="account_id", how="left", validate="many_to_one"
    )
    churned_at = pd.to_datetime(frame["churned_at"])
    known = churned_at.notna() & (churned_at <= clock_ts)
    churn_date = churned_at.dt.normalize()
    snapshot_date = frame["snapshot_date"]
    already_churned = known & (churn_date <= snapshot_date)
    in_window = (
        known & (churn_date > snapshot_date) & (churn_date <= snapshot_date + pd.Timedelta(days=horizon_days))
    )
    frame = frame.assign(churned_at=churned_at.where(known), label=in_window.astype("int8"))
    frame = frame.loc[~already_churned]
    return frame.sort_values(["snapshot_date", "account_id"], kind="stable").reset_index(drop=True)


def model_matrix(
    frame: pd.DataFrame,
    columns: Sequence[str] = tuple(MODEL_COLUMNS),
    categories: dict[str, list[str]] | None = None,
) -> pd.DataFrame:
    """The model's input: numeric columns as float64 (NaN for missing), categoricals with fixed categories."""
    categories = CATEGORIES if categories is None else categories
    data = {}
    for column in columns:
        if column in categories:
            data[column] = pd.Categorical(frame[column].astype("object"), categories=categories[column])
        else:
            data[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return pd.DataFrame(data, index=frame.index)
