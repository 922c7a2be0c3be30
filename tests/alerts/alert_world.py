"""A small real warehouse for the alert engine: a handful of accounts over seven weeks of days.

The tables have the shape dbt and the ml package build (signals.*, scoring.*); baselines are
computed here the way the dbt model does (median and MAD of the four prior same weekdays, robust
z with a floored scale), so the usage rules are judged on realistic numbers.
"""

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from healthwatch.config import Settings, load_settings
from healthwatch.warehouse import change_table, ensure_change_tables

REPO = Path(__file__).resolve().parents[2]
RULES_FILE = REPO / "alert_rules.yml"

# Sunday 9 Nov 2025, 17:00 in New York: the signals run to that Sunday.
AS_OF = date(2025, 11, 9)
CLOCK = datetime(2025, 11, 9, 22, 0)
HISTORY_DAYS = 49

TEAM = {
    "c1": ("Ana Ortiz", "ana@example.com", "America/New_York", "m1"),
    "c2": ("Ben Hale", "ben@example.com", "Europe/London", "m1"),
    "c3": ("Cy Tran", "cy@example.com", "Australia/Sydney", "m2"),
    "m1": ("Mo Diaz", "mo@example.com", "America/New_York", "v1"),
    "m2": ("Mia Lee", "mia@example.com", "Australia/Sydney", "v1"),
    "v1": ("Vera Cole", "vera@example.com", "America/New_York", None),
}


def weekday_logins(per_weekday: int) -> Callable[[date], int]:
    """A steady team: `per_weekday` logins Monday to Friday, a small wobble, none at weekends."""
    return lambda d: 0 if d.weekday() >= 5 else per_weekday + (d.toordinal() % 3) - 1


def dropping_logins(per_weekday: int, keep: float, since: date) -> Callable[[date], int]:
    steady = weekday_logins(per_weekday)
    return lambda d: round(steady(d) * keep) if d >= since else steady(d)


@dataclass
class AccountSpec:
    account_id: str
    name: str
    segment: str
    arr: float
    csm_id: str
    logins: Callable[[date], int]
    history_days: int = HISTORY_DAYS
    is_churned: bool = False
    days_to_renewal: int = 300
    payment_failures: dict[date, int] = field(default_factory=dict)
    cancellation_requests: dict[date, int] = field(default_factory=dict)
    tickets: dict[date, int] = field(default_factory=dict)
    champion_active: Callable[[date], bool] = lambda d: d.weekday() < 5
    health: tuple[str | None, str, float] = (None, "Healthy", 0.05)  # previous, current, probability
    # Scripted signal values per day (a timeline): column → value, merged over the computed row.
    overrides: Callable[[date], dict] | None = None


def base_world() -> list[AccountSpec]:
    """The accounts every end-to-end test starts from."""
    return [
        AccountSpec(
            "acc_pay",
            "Acme Corp",
            "enterprise",
            250_000,
            "c1",
            weekday_logins(40),
            payment_failures={date(2025, 11, 7): 1},
            health=("Healthy", "Healthy", 0.08),
        ),
        AccountSpec(
            "acc_drop",
            "Globex",
            "mid_market",
            80_000,
            "c2",
            dropping_logins(20, 0.5, AS_OF - timedelta(days=5)),
            health=("At-Risk", "At-Risk", 0.32),
        ),
        AccountSpec(
            "acc_weekend",
            "Initech",
            "smb",
            6_000,
            "c3",
            weekday_logins(3),
            health=("Healthy", "Healthy", 0.1),
        ),
        AccountSpec(
            "acc_crit",
            "Umbrella",
            "enterprise",
            400_000,
            "c1",
            weekday_logins(30),
            days_to_renewal=200,
            health=("Healthy", "Critical", 0.71),
        ),
        AccountSpec(
            "acc_churned",
            "Soylent",
            "smb",
            4_000,
            "c3",
            weekday_logins(5),
            is_churned=True,
            payment_failures={AS_OF: 1},
        ),
        AccountSpec(
            "acc_new",
            "Hooli",
            "smb",
            9_000,
            "c3",
            dropping_logins(10, 0.3, AS_OF - timedelta(days=3)),
            history_days=12,
        ),
        AccountSpec(
            "acc_cancel",
            "Stark",
            "mid_market",
            60_000,
            "c2",
            weekday_logins(15),
            cancellation_requests={date(2025, 11, 5): 1},
        ),
        AccountSpec(
            "acc_champion",
            "Wayne",
            "enterprise",
            300_000,
            "c1",
            weekday_logins(50),
            champion_active=lambda d: d < AS_OF - timedelta(days=13) and d.weekday() < 5,
            health=("At-Risk", "At-Risk", 0.3),
        ),
        AccountSpec(
            "acc_tickets",
            "Wonka",
            "smb",
            12_000,
            "c3",
            weekday_logins(8),
            tickets={date(2025, 11, 4): 2, date(2025, 11, 6): 1, date(2025, 11, 7): 1},
            health=("At-Risk", "At-Risk", 0.28),
        ),
    ]


def _daily_rows(spec: AccountSpec, as_of: date) -> list[dict]:
    days = [as_of - timedelta(days=i) for i in range(spec.history_days - 1, -1, -1)]
    rows = []
    last_login = None
    for i, day in enumerate(days):
        if spec.logins(day) > 0:
            last_login = day

        def window(series: Callable[[date], float], n: int, end: int = i) -> float:
            return sum(series(days[j]) for j in range(max(0, end - n + 1), end + 1))

        logins_7d = window(spec.logins, 7)
        logins_prev_7d = window(spec.logins, 7, i - 7) if i >= 7 else None
        tickets = lambda d: spec.tickets.get(d, 0)  # noqa: E731
        rows.append(
            {
                "account_id": spec.account_id,
                "signal_date": day,
                "segment": spec.segment,
                "arr": spec.arr,
                "seats_purchased": 50,
                "csm_id": spec.csm_id,
                "logins": spec.logins(day),
                "logins_7d": logins_7d,
                "logins_prev_7d": logins_prev_7d,
                "logins_wow_change": (logins_7d / logins_prev_7d - 1) if logins_prev_7d else None,
                "active_users_7d": min(50, logins_7d // 2),
                "seat_utilisation": min(50, logins_7d // 2) / 50,
                "core_feature_uses_7d": logins_7d * 2,
                "session_minutes_7d": logins_7d * 15,
                "api_calls_7d": 1000,
                "api_error_rate_7d": 0.01,
                "api_latency_p95_ms_7d": 300.0,
                "core_features_used_28d": 4,
                "core_features_abandoned_28d": 0,
                "last_login_date": last_login,
                "days_since_last_login": None if last_login is None else (day - last_login).days,
                "tickets_opened": tickets(day),
                "tickets_escalated": 0,
                "tickets_7d": window(tickets, 7),
                "tickets_negative_7d": 0,
                "tickets_escalated_28d": 0,
                "tickets_repeat_28d": 0,
                "ticket_sentiment_avg_28d": 0.2,
                "nps_responses": 0,
                "nps_score_last": 8,
                "nps_score_previous": 8,
                "nps_change": 0,
                "surveys_sent_90d": 2,
                "survey_response_rate_90d": 0.6,
                "payment_failures": spec.payment_failures.get(day, 0),
                "payment_failures_30d": window(lambda d: spec.payment_failures.get(d, 0), 30),
                "cancellation_requests": spec.cancellation_requests.get(day, 0),
                "cancellation_requests_90d": window(lambda d: spec.cancellation_requests.get(d, 0), 90),
                "procurement_freezes": 0,
                "procurement_freezes_90d": 0,
                "budget_owner_changes": 0,
                "budget_owner_changes_90d": 0,
                "champion_departures": 0,
                "champion_departures_90d": 0,
                "sponsor_departures": 0,
                "sponsor_departures_90d": 0,
                "champion_active_days_14d": window(lambda d: int(spec.champion_active(d)), 14),
                "sponsor_active_days_28d": 4,
                "days_to_renewal": spec.days_to_renewal + (as_of - day).days,
            }
        )
        if spec.overrides is not None:
            rows[-1].update(spec.overrides(day))
    return rows


BASELINE_METRICS = (
    "logins_7d",
    "active_users_7d",
    "core_feature_uses_7d",
    "session_minutes_7d",
    "tickets_7d",
)


def _baselines(signals: pd.DataFrame) -> pd.DataFrame:
    """As dbt's account_baselines: the four prior same weekdays, median, MAD, floored robust z."""
    indexed = signals.set_index(["account_id", "signal_date"])
    out = []
    for (account_id, day), row in indexed.iterrows():
        first = indexed.loc[account_id].index.min()
        record = {"account_id": account_id, "signal_date": day, "baseline_days": min(28, (day - first).days)}
        for m in BASELINE_METRICS:
            history = [
                indexed.loc[(account_id, day - timedelta(days=7 * k)), m]
                for k in range(1, 5)
                if (account_id, day - timedelta(days=7 * k)) in indexed.index
            ]
            if history:
                median = statistics.median(history)
                mad = statistics.median(abs(x - median) for x in history)
                scale = max(1.4826 * mad, 0.1 * abs(median), 1.0)
                change = row[m] / median - 1 if median else None
                z = (row[m] - median) / scale
            else:
                median = mad = change = z = None
            record |= {f"{m}_baseline": median, f"{m}_mad": mad, f"{m}_change": change, f"{m}_robust_z": z}
        out.append(record)
    return pd.DataFrame(out)


def write_world(
    con: duckdb.DuckDBPyConnection, specs: list[AccountSpec], as_of: date, clock: datetime
) -> None:
    """(Re)create the input tables for `specs` with signals up to `as_of` and the data clock at `clock`."""
    con.execute("create schema if not exists signals")
    con.execute("create schema if not exists scoring")
    signals = pd.DataFrame([r for s in specs for r in _daily_rows(s, as_of)])
    signals["signal_date"] = pd.to_datetime(signals["signal_date"]).dt.date
    baselines = _baselines(signals)
    accounts = pd.DataFrame(
        [
            {
                "account_id": s.account_id,
                "name": s.name,
                "segment": s.segment,
                "arr": s.arr,
                "plan": "pro",
                "seats_purchased": 50,
                "csm_id": s.csm_id,
                "is_churned": s.is_churned,
                "churned_at": datetime(2025, 10, 1) if s.is_churned else None,
                "renewal_date": as_of + timedelta(days=s.days_to_renewal),
                "csm_name": TEAM[s.csm_id][0],
                "csm_email": TEAM[s.csm_id][1],
                "csm_timezone": TEAM[s.csm_id][2],
                "manager_id": TEAM[s.csm_id][3],
                "manager_name": TEAM[TEAM[s.csm_id][3]][0],
                "manager_email": TEAM[TEAM[s.csm_id][3]][1],
                "vp_id": TEAM[TEAM[s.csm_id][3]][3],
                "vp_name": "Vera Cole",
                "vp_email": "vera@example.com",
            }
            for s in specs
        ]
    )
    scores = pd.DataFrame(
        [
            {
                "account_id": s.account_id,
                "scored_at": clock,
                "model_version": "m-2025-11-01",
                "churn_probability": s.health[2],
                "health_score": round(100 * (1 - s.health[2]), 1),
                "health_class": s.health[1],
                "previous_health_class": s.health[0],
                "drivers": '[{"feature": "logins_7d_change", "value": -0.4, "contribution": 0.3, '
                '"sentence": "logins -40% vs 4-week normal"}]',
            }
            for s in specs
            if not s.is_churned
        ]
    )
    for table, frame in (
        ("signals.account_signals_daily", signals),
        ("signals.account_baselines", baselines),
        ("signals.accounts", accounts),
        ("scoring.account_health_scores", scores),
    ):
        con.register("frame", frame)
        con.execute(f"create or replace table {table} as select * from frame")
        con.unregister("frame")
    con.execute("alter table scoring.account_health_scores alter drivers type json")
    ensure_change_tables(con)
    con.execute(f"delete from {change_table('crm')}")
    con.execute(
        f"insert into {change_table('crm')} values (1, 'accounts', 'u', 'x', null, null, ?, ?)",
        [clock, clock],
    )


def make_settings(folder: Path, rules_file: Path = RULES_FILE) -> Settings:
    """Settings as the CLI loads them, with the warehouse in `folder` and the given rules file."""
    config = folder / "healthwatch.yml"
    config.write_text(f"alert_rules_file: {rules_file}\n", encoding="utf-8")
    env = {"HEALTHWATCH_CONFIG": str(config), "HEALTHWATCH_WAREHOUSE": str(folder / "warehouse.duckdb")}
    return load_settings(env=env, cwd=folder)
