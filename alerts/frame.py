"""The evaluation frame: account-day rows with everything a rule reads, built in one SQL statement.

The live engine takes each account's latest day; the replay in `alerts.evaluation` takes every day
of a period. Both read the same statement, so a rule sees the same row either way: the account's
signals and baselines for the day, the facts derived from the 90 days before it
(`alerts.conditions.DERIVED_COLUMNS`), its health score as of then, and the account's profile and
owner chain as the CRM has them now.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import duckdb

from alerts.conditions import DERIVED_COLUMNS
from healthwatch.errors import HealthwatchError

SIGNALS = "signals.account_signals_daily"
BASELINES = "signals.account_baselines"
ACCOUNTS = "signals.accounts"
SCORES = "scoring.account_health_scores"
SCORE_HISTORY = "scoring.account_health_score_history"

# Columns the engine itself reads (the rules' own needs are checked per enabled rule).
ACCOUNT_COLUMNS = (
    "account_id",
    "name",
    "segment",
    "arr",
    "is_churned",
    # the owner chain routing reads
    "csm_id",
    "csm_name",
    "csm_email",
    "csm_timezone",
    "manager_id",
    "vp_id",
)
SIGNAL_COLUMNS = (
    "account_id",
    "signal_date",
    "logins_7d",
    "payment_failures",
    "cancellation_requests",
    "procurement_freezes",
    "champion_departures",
    "sponsor_departures",
    "budget_owner_changes",
    "champion_active_days_14d",
    "api_error_rate_7d",
    "api_latency_p95_ms_7d",
    "nps_responses",
    "tickets_escalated",
)
BASELINE_COLUMNS = ("account_id", "signal_date", "logins_7d_baseline")
SCORE_COLUMNS: dict[str, str] = {
    "scored_at": "timestamp",
    "model_version": "varchar",
    "churn_probability": "double",
    "health_score": "double",
    "health_class": "varchar",
    "previous_health_class": "varchar",
    "drivers": "varchar",
}
# Days of signal history read before the first judged day, exactly what the derived facts need:
# a 90-day list of the day's new CRM events (each the rise of a 90-day count over the day before
# it: 90 days back) and the days below baseline, counted up to 91. More rows only cost: every
# window runs over all of them.
LOOKBACK_DAYS = 91

Mode = Literal["latest", "range"]


@dataclass(frozen=True)
class FrameSource:
    """Where the score columns come from.

    `table`: the scoring tables, each account's latest score computed at or before the clock;
    `relation`: a registered relation (account_id, as_of_date + SCORE_COLUMNS) joined as of each day;
    `none`: no scores yet (typed nulls).
    """

    kind: Literal["table", "relation", "none"]
    relation: str | None = None


def columns(con: duckdb.DuckDBPyConnection, qualified: str) -> list[str]:
    schema, name = qualified.split(".")
    return [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, name],
        ).fetchall()
    ]


def require_columns(have: Iterable[str], table: str, needed: Iterable[str]) -> None:
    have = set(have)
    missing = [c for c in needed if c not in have]
    if missing:
        raise HealthwatchError(
            f"{table} has no column {', '.join(missing)}",
            "rebuild the signals with this version: `healthwatch run --full-refresh`",
        )


def frame_sql(
    con: duckdb.DuckDBPyConnection,
    mode: Mode,
    scores: FrameSource,
    with_ids: bool = False,
) -> str:
    """The frame as SQL. Parameters: `$as_of` (latest: judge each account's newest day on or before
    it; range: the last day), `$start` (range only: the first day), `$now` (scores computed at or
    before it; table scores only), `$ids` (with_ids: only these accounts).

    `latest` leaves churned accounts out (nothing to act on), and reads only the last LOOKBACK_DAYS
    days (a live account has a row for every day up to the clock), so its cost does not grow with
    the history; `range` keeps every day an account was a customer, churned or not, for the replay.
    """
    account_cols = columns(con, ACCOUNTS)
    signal_cols = columns(con, SIGNALS)
    baseline_cols = columns(con, BASELINES)
    require_columns(account_cols, ACCOUNTS, ACCOUNT_COLUMNS)
    require_columns(signal_cols, SIGNALS, SIGNAL_COLUMNS)
    require_columns(baseline_cols, BASELINES, BASELINE_COLUMNS)
    score_cols = columns(con, SCORES) if scores.kind == "table" else list(SCORE_COLUMNS)

    # Later tables never shadow a name an earlier one already gave (accounts win: current CRM state).
    select: list[str] = []
    taken: set[str] = set()

    def add(alias: str, names: Iterable[str], rename: dict[str, str] | None = None) -> None:
        for column in names:
            out = (rename or {}).get(column, column)
            if out in taken:
                continue
            taken.add(out)
            select.append(f'{alias}."{column}" as "{out}"')

    add("a", account_cols, rename={"name": "account_name"})
    add("s", signal_cols)
    add("b", baseline_cols)
    if scores.kind == "none":
        for column, sql_type in SCORE_COLUMNS.items():
            if column not in taken:
                taken.add(column)
                select.append(f'cast(null as {sql_type}) as "{column}"')
    else:
        add("h", [c for c in score_cols if c in SCORE_COLUMNS])
    add("d", DERIVED_COLUMNS)

    id_filter = "and account_id in (select unnest($ids))" if with_ids else ""
    if mode == "latest":
        days = f"""
        days as (
            select account_id, max(signal_date) as first_day, max(signal_date) as last_day
            from {SIGNALS}
            where signal_date <= $as_of and signal_date >= $as_of - {LOOKBACK_DAYS} {id_filter}
            group by account_id
        )"""
        judged = "s.signal_date = days.last_day"
        churn_filter = "and not coalesce(a.is_churned, false)"
        first_read, first_judged = f"$as_of - {2 * LOOKBACK_DAYS}", f"$as_of - {LOOKBACK_DAYS}"
    else:
        days = f"""
        days as (
            select account_id, greatest(min(signal_date), $start) as first_day, max(signal_date) as last_day
            from {SIGNALS}
            where signal_date <= $as_of {id_filter}
            group by account_id
            having max(signal_date) >= $start
        )"""
        judged = "s.signal_date between days.first_day and days.last_day"
        churn_filter = ""
        first_read, first_judged = f"$start - {LOOKBACK_DAYS}", "$start"

    if scores.kind == "table":
        score_cte = f"""
        scores as (
            select account_id, {", ".join(_score_expr(c, score_cols) for c in SCORE_COLUMNS)}
            from (
                select {", ".join(c for c in score_cols)} from {SCORES} where scored_at <= $now
                {score_history_union(con, score_cols)}
            )
            qualify row_number() over (partition by account_id order by scored_at desc) = 1
        ),"""
        score_join = "left join scores as h on h.account_id = a.account_id"
    elif scores.kind == "relation":
        score_cte = ""
        score_join = (
            f"asof left join {scores.relation} as h "
            "on h.account_id = s.account_id and s.signal_date >= h.as_of_date"
        )
    else:
        score_cte = ""
        score_join = ""

    # The days above bound every date read; said again as literals, they let a scan skip the row
    # groups that hold only older days: those later runs appended (the full build's row groups
    # hold every date of their accounts). At 100,000 accounts the live frame 8.8 -> 8.1 s.
    read = f"between {first_read} and $as_of"
    judged_days = f"between {first_judged} and $as_of"
    return f"""
        with {days},
        history as (
            select s.*, b.logins_7d_baseline as _logins_7d_baseline, days.last_day as _last_day
            from {SIGNALS} as s
            inner join days on days.account_id = s.account_id
            left join {BASELINES} as b
                on b.account_id = s.account_id and b.signal_date = s.signal_date and b.signal_date {read}
            where s.signal_date between days.first_day - {LOOKBACK_DAYS} and days.last_day and s.signal_date {read}
        ),
        derived as ({_derived_sql(mode)}),
        {score_cte}
        final as (
            select {", ".join(select)}
            from {SIGNALS} as s
            inner join days on days.account_id = s.account_id and {judged}
            inner join {ACCOUNTS} as a on a.account_id = s.account_id
            left join {BASELINES} as b
                on b.account_id = s.account_id and b.signal_date = s.signal_date and b.signal_date {judged_days}
            inner join derived as d on d.account_id = s.account_id and d.signal_date = s.signal_date
            {score_join}
            where s.signal_date {judged_days} {churn_filter}
        )
        select * from final
    """


def _derived_sql(mode: Mode) -> str:
    """The DERIVED_COLUMNS of each judged day, from `history` (the rows read).

    `range` judges every day, so each fact is a window over the days before it; `latest` judges one
    day per account, so each fact is an aggregate of that account's rows, filtered to the same days
    (a window per row would compute ~90 rows for each one kept: 23 of the frame's 28 s at L).
    """
    latest = mode == "latest"
    day = "_last_day" if latest else "signal_date"

    def over(agg: str, first: int, last: int = 0, where: str | None = None, ordered: bool = False) -> str:
        """`agg` over the rows from `first` to `last` days before the judged day (and `where`)."""
        if latest:
            if first == last:
                days = f"signal_date = {day} - {first}"
            else:
                days = f"signal_date between {day} - {first} and {day}{f' - {last}' if last else ''}"
            if ordered:  # a window's frame is in date order already; an aggregate's rows are not
                agg = f"{agg[:-1]} order by signal_date)"
            return f"{agg} filter (where {days}{f' and {where}' if where else ''})"
        end = "current row" if last == 0 else f"interval {last} days preceding"
        condition = f" filter (where {where})" if where else ""
        frame = f"range between interval {first} days preceding and {end}"
        return f"{agg}{condition} over (partition by account_id order by signal_date {frame})"

    def days_with(count: str, kind: str | None = None) -> str:
        fields = "'date': signal_date" + (f", 'kind': '{kind}'" if kind else "") + f", 'count': {count}"
        return over(f"list({{{fields}}})", 89, where=f"{count} > 0", ordered=True)

    def weekday_median(column: str) -> str:
        return f"list_median([{', '.join(over(f'max({column})', n, n) for n in (7, 14, 21, 28))}])"

    below = "case when not coalesce(logins_7d < _logins_7d_baseline, false) then signal_date end"
    stakeholders = ", ".join(
        f"coalesce({days_with(count, kind)}, [])"
        for count, kind in (
            ("champion_departures", "champion_departure"),
            ("sponsor_departures", "sponsor_departure"),
            ("budget_owner_changes", "budget_owner_change"),
        )
    )
    facts = {
        "payment_failure_days": days_with("payment_failures"),
        "cancellation_request_days": days_with("cancellation_requests"),
        "procurement_freeze_days": days_with("procurement_freezes"),
        "stakeholder_change_days": f"list_concat({stakeholders})",
        "champion_active_days_14d_prior": over("max(champion_active_days_14d)", 14, 14),
        "logins_7d_days_below_baseline": f"{day} - coalesce({over(f'max({below})', 91)}, {day} - 91)",
        "api_error_rate_7d_baseline": weekday_median("api_error_rate_7d"),
        "api_latency_p95_ms_7d_baseline": weekday_median("api_latency_p95_ms_7d"),
        "days_since_nps_response": f"{day} - {over('max(case when nps_responses > 0 then signal_date end)', 89)}",
        "tickets_escalated_7d": over("sum(tickets_escalated)", 6),
    }
    select = ",\n                ".join(f"{sql} as {name}" for name, sql in facts.items())
    if latest:
        return f"""
            select account_id, {day} as signal_date,
                {select}
            from history
            group by account_id, {day}
        """
    return f"""
            select account_id, signal_date,
                {select}
            from history
        """


def _score_expr(column: str, have: list[str]) -> str:
    if column not in have:
        return f"cast(null as {SCORE_COLUMNS[column]}) as {column}"
    if column == "drivers":
        return "cast(cast(drivers as json) as varchar) as drivers"
    return f"cast({column} as {SCORE_COLUMNS[column]}) as {column}"


def score_history_union(con: duckdb.DuckDBPyConnection, score_cols: list[str]) -> str:
    """Past scorings, for the accounts whose current score is newer than the clock (a replay at an
    earlier clock sees the score it had then). The current row is the latest scoring, so at the
    live clock the history's rows are only matched against the current accounts on two columns,
    none is ranked: the history grows by a row per account and scoring."""
    schema, name = SCORE_HISTORY.split(".")
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone()[0]
    if not exists or set(score_cols) - set(columns(con, SCORE_HISTORY)):
        return ""
    return (
        f"union all select {', '.join(score_cols)} from {SCORE_HISTORY} as past "
        f"where past.scored_at <= $now and past.account_id not in "
        f"(select account_id from {SCORES} where scored_at <= $now)"
    )
