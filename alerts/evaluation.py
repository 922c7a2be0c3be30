"""Replay the alert rules over every day of a period, with and without the model gate, and measure
alerts per 100 accounts per week, precision and churn recall.

What is replayed. `alerts.frame` in `range` mode gives one evaluation row per account and day (the
same SQL the live engine reads for its latest day). Each day the rows go through
`alerts.decide.plan_account`, the live engine's own per-account step (rules, gate, dedup, SLA
escalation, auto-resolve, calendar suppression, inhibition, notifications), with the live alerts
kept in memory between days instead of in `alerts.health_alerts`. The clock of day d is d 22:00
UTC (a nightly run). Simplifications, stated: nobody acknowledges or closes an alert (no CRM
feedback), there are no silences, and an account stops being judged on the day it churns (its live
alerts end there, as the engine resolves them as `account_churned`).

Scores as of each day, without leakage. Either walk-forward (`walk_forward_scores`, the default):
the snapshot dates from the period's start are cut into blocks of `step` dates; each block's
snapshots are scored by a model trained with `ml.train.train_model` at the block's first date on
what was known then (`ml.features.build_training_set` with that clock), exactly as
`ml.backtest.walk_forward` does; a day uses the newest snapshot dated on or before it. Or the
warehouse's own `scoring.account_health_score_history` (`history_scores`): a row counts from the
later of its snapshot date and the day it was scored.

What is counted. An alert is one episode of a dedup key (one `alert_id`), counted on the day it is
first notified (it reaches someone's queue): an alert the gate holds and never releases is not
counted; a downgraded one is, at its lower severity. `urgent` alerts are those first notified as
high or critical (the CSM's manager is told, SLA 24 h or less). Volume: alerts / (account-days
judged / 7) × 100. Precision: the share of alerts whose account churns within the horizon after
the alert's day, by `ml.features.build_training_set` (the model's label). Recall: of the accounts
whose label is positive on some judged day of the period, the share with at least one true alert.
Only days whose whole horizon is observed by the data clock are judged. On a given day the gate can
send more first notifications than the rules alone (a held alert released when a new score sees
risk, a critical alert downgraded so that it no longer inhibits the account's others):
`days_gate_above_rules` lists those days.

At equal recall. The gate can only hold or lower alerts, so its recall is at most the rules'. Beside
the gate as configured, `low_risk_share` sweeps a probability cutoff for the same per-type gate
actions (an account is low-risk when its churn probability is below the cutoff; the cutoffs are
quantiles of the period's scores); the equal-recall point is the widest cutoff whose recall is
still at least the rules' recall. It is read off the period itself, not chosen beforehand.
"""

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from alerts.calendar import CompanyCalendar, load_company_calendar
from alerts.decide import RunContext, plan_account
from alerts.frame import SCORE_HISTORY, FrameSource, frame_sql
from alerts.rules import AlertRulesFile, load_alert_rules
from healthwatch.batches import data_clock
from healthwatch.config import CalendarConfig, Settings
from healthwatch.errors import HealthwatchError
from healthwatch.warehouse import table_exists
from ml.features import build_training_set, load_accounts, load_snapshots
from ml.train import train_model

RUN_TIME = time(22, 0)  # the nightly run's clock on each replayed day (UTC)
URGENT = ("high", "critical")
SCORES_RELATION = "_hw_replay_scores"
WARMUP_DAYS = 14  # replayed before the period so alerts live at its start are not counted as new
WALK_FORWARD_STEP = 4
DEFAULT_SHARES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
CHUNK_ACCOUNTS = 200


# ---------------------------------------------------------------- scores as of each day


def walk_forward_scores(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    first_day: date,
    last_day: date,
    step: int = WALK_FORWARD_STEP,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Scores of every snapshot that can serve a day in [first_day, last_day], each by a model
    trained on what was known at its block's first snapshot date. Returns (scores, folds)."""
    horizon = settings.config.churn.horizon_days
    snapshots = load_snapshots(con)
    accounts = load_accounts(con)
    dates = sorted(pd.to_datetime(snapshots["snapshot_date"]).unique())
    first = pd.Timestamp(first_day)
    serving = [d for d in dates if d <= first]
    dates = [d for d in dates if (serving and d >= serving[-1]) and d <= pd.Timestamp(last_day)]
    if not dates:
        raise HealthwatchError(
            f"no feature snapshot on or before {first_day}",
            "replay a later period, or build the signals (`dbt build`)",
        )
    pieces, folds = [], []
    for i in range(0, len(dates), step):
        block = dates[i : i + step]
        trained_at = pd.Timestamp(block[0]).to_pydatetime()
        training_set = build_training_set(snapshots, accounts, horizon, trained_at)
        run = train_model(training_set, settings.config.model, horizon, trained_at)
        rows = snapshots.loc[snapshots["snapshot_date"].isin(block)].reset_index(drop=True)
        probability = run.model.predict_proba(rows)
        pieces.append(
            pd.DataFrame(
                {
                    "account_id": rows["account_id"].astype(str).to_numpy(),
                    "as_of_date": pd.to_datetime(rows["snapshot_date"]).dt.date.to_numpy(),
                    "model_version": run.model.version,
                    "churn_probability": probability,
                    "health_class": run.model.thresholds.classify(probability),
                }
            )
        )
        folds.append(
            {
                "trained_at": trained_at.date().isoformat(),
                "model_version": run.model.version,
                "scores_snapshots": [
                    pd.Timestamp(block[0]).date().isoformat(),
                    pd.Timestamp(block[-1]).date().isoformat(),
                ],
                "thresholds": run.model.thresholds.to_dict(),
            }
        )
    return complete_scores(pd.concat(pieces, ignore_index=True)), folds


def complete_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Fill the frame's score columns from (account_id, as_of_date, churn_probability, health_class,
    model_version): scored_at at the snapshot date, health score, and the previous scoring's class."""
    out = scores.sort_values(["account_id", "as_of_date"], kind="stable").reset_index(drop=True)
    out["as_of_date"] = pd.to_datetime(out["as_of_date"]).dt.date
    if "scored_at" not in out:
        out["scored_at"] = pd.to_datetime(out["as_of_date"])
    if "model_version" not in out:
        out["model_version"] = "replay"
    out["health_score"] = np.round(100 * (1 - out["churn_probability"].astype(float)))
    out["previous_health_class"] = out.groupby("account_id")["health_class"].shift(1)
    if "drivers" not in out:
        out["drivers"] = "[]"
    columns = ["account_id", "as_of_date", "scored_at", "model_version", "churn_probability"]
    return out[[*columns, "health_score", "health_class", "previous_health_class", "drivers"]]


def history_scores(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The warehouse's scoring history, each row usable from the later of its snapshot date and
    the day it was scored (the newest scoring per account and day wins)."""
    if not table_exists(con, SCORE_HISTORY):
        raise HealthwatchError(f"no {SCORE_HISTORY} in this warehouse", "use walk-forward scores")
    frame = con.execute(
        f"""
        select account_id, greatest(as_of_date, cast(scored_at as date)) as as_of_date, scored_at,
               model_version, churn_probability, health_class, cast(drivers as varchar) as drivers
        from {SCORE_HISTORY}
        qualify row_number() over (
            partition by account_id, greatest(as_of_date, cast(scored_at as date))
            order by scored_at desc, model_version desc) = 1
        """
    ).df()
    return complete_scores(frame)


# ---------------------------------------------------------------- gate variants


def gate_variant(rules: AlertRulesFile, mode: str, max_probability: float | None = None) -> AlertRulesFile:
    """The rules with the model gate `off` (every type's action none), `configured` (as loaded),
    or `cutoff` (each type keeps its configured action; low-risk = probability below `max_probability`)."""
    if mode == "configured":
        return rules
    data = rules.model_dump(exclude_unset=True)
    for name, rule in data["rules"].items():
        action = rules.effective(name, None).model_gate.action
        if mode == "off":
            rule["model_gate"] = {"action": "none"}
        elif mode == "cutoff":
            if max_probability is None:
                raise ValueError("a cutoff gate needs max_probability")
            if action != "none":
                rule["model_gate"] = {
                    "action": action,
                    "low_risk_classes": [],
                    "max_probability": max_probability,
                }
        else:
            raise ValueError(f"unknown gate mode {mode!r}; use off, configured or cutoff")
    variant = AlertRulesFile.model_validate(data)
    variant._playbooks = rules.playbooks
    return variant


# ---------------------------------------------------------------- the replay


@dataclass(frozen=True)
class Episode:
    """One alert (one alert_id) as first notified."""

    account_id: str
    alert_type: str
    day: date
    severity: str
    gate_action: str


@dataclass
class ReplayCounts:
    """What one gate variant fired over the period."""

    episodes: list[Episode] = field(default_factory=list)
    held_by_gate: int = 0  # alert-days the gate held
    downgraded: int = 0  # alert-days the gate downgraded
    per_day: dict[date, int] = field(default_factory=lambda: defaultdict(int))  # first notifications


def replay_account(
    rows: Sequence[Mapping[str, Any]],
    contexts: Mapping[date, RunContext],
    counts: ReplayCounts,
    first_counted: date,
) -> None:
    """Run the engine's per-account step over one account's days (in date order), keeping its live
    alerts in memory, and add the alerts first notified on or after `first_counted` to `counts`."""
    live: dict[str, dict[str, Any]] = {}
    notified: set[str] = set()
    for row in rows:
        day = row["signal_date"]
        ctx = contexts[day]
        plan = plan_account(row, live, {}, ctx)
        for alert in (*plan.inserts, *plan.updates):
            if alert["status"] == "resolved":
                live.pop(alert["alert_type"], None)
                continue
            live[alert["alert_type"]] = alert
            if alert["gate_action"] == "held" and alert["last_seen_at"] == ctx.now:
                counts.held_by_gate += 1
            elif alert["gate_action"] == "downgraded" and alert["last_seen_at"] == ctx.now:
                counts.downgraded += 1
            if alert["last_notified_at"] == ctx.now and alert["alert_id"] not in notified:
                notified.add(alert["alert_id"])
                if day >= first_counted:
                    counts.episodes.append(
                        Episode(
                            row["account_id"],
                            alert["alert_type"],
                            day,
                            alert["severity"],
                            alert["gate_action"],
                        )
                    )
                    counts.per_day[day] += 1


def _contexts(
    rules: AlertRulesFile, calendar: CalendarConfig, company: CompanyCalendar, days: Iterable[date]
) -> dict[date, RunContext]:
    return {
        d: RunContext(rules=rules, calendar=calendar, company=company, now=datetime.combine(d, RUN_TIME))
        for d in days
    }


def _account_rows(
    con: duckdb.DuckDBPyConnection, first: date, last: date, ids: list[str], churn_dates: Mapping[str, date]
) -> Iterator[list[dict[str, Any]]]:
    """Per account (in id order), its frame rows from `first` to `last`, up to the day before it churned."""
    sql = frame_sql(con, "range", FrameSource("relation", SCORES_RELATION), with_ids=True)
    result = con.execute(
        sql + " order by account_id, signal_date", {"start": first, "as_of": last, "ids": ids}
    )
    names = [d[0] for d in result.description]
    rows = [dict(zip(names, values, strict=True)) for values in result.fetchall()]
    by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        churned = churn_dates.get(row["account_id"])
        if churned is None or row["signal_date"] < churned:
            by_account[row["account_id"]].append(row)
    for account in sorted(by_account):
        yield by_account[account]


@dataclass
class Replay:
    """The replay of every variant over the same account-days."""

    start: date
    end: date
    variants: dict[str, ReplayCounts]
    judged: pd.DataFrame  # (account_id, snapshot_date): every account-day judged in [start, end]


def replay(
    con: duckdb.DuckDBPyConnection,
    variants: Mapping[str, AlertRulesFile],
    calendar: CalendarConfig,
    company: CompanyCalendar,
    scores: pd.DataFrame,
    start: date,
    end: date,
    warmup_days: int = WARMUP_DAYS,
    chunk: int = CHUNK_ACCOUNTS,
) -> Replay:
    """Replay every variant over the days [start - warmup_days, end]; count alerts from `start`."""
    first = start - timedelta(days=warmup_days)
    days = [first + timedelta(days=i) for i in range((end - first).days + 1)]
    contexts = {name: _contexts(rules, calendar, company, days) for name, rules in variants.items()}
    churn_dates = {
        a: c.date()
        for a, c in con.execute(
            "select account_id, churned_at from signals.accounts where churned_at is not null"
        ).fetchall()
    }
    ids = [
        r[0] for r in con.execute("select account_id from signals.accounts order by account_id").fetchall()
    ]
    counts = {name: ReplayCounts() for name in variants}
    judged: list[tuple[str, date]] = []
    con.register(SCORES_RELATION, scores)
    try:
        for i in range(0, len(ids), chunk):
            for rows in _account_rows(con, first, end, ids[i : i + chunk], churn_dates):
                judged += [(r["account_id"], r["signal_date"]) for r in rows if r["signal_date"] >= start]
                for name in variants:
                    replay_account(rows, contexts[name], counts[name], start)
    finally:
        con.unregister(SCORES_RELATION)
    frame = pd.DataFrame(judged, columns=["account_id", "snapshot_date"])
    frame["snapshot_date"] = pd.to_datetime(frame["snapshot_date"])
    return Replay(start, end, counts, frame)


# ---------------------------------------------------------------- measures


def labelled(frame: pd.DataFrame, accounts: pd.DataFrame, horizon_days: int, clock: datetime) -> pd.DataFrame:
    """`frame` (account_id, snapshot_date, ...) with the model's churn label (censored rows dropped)."""
    return build_training_set(frame, accounts, horizon_days, clock)


def measure(
    episodes: Sequence[Episode],
    judged_labels: pd.DataFrame,
    accounts: pd.DataFrame,
    horizon_days: int,
    clock: datetime,
    severities: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Volume, precision and recall of the episodes (of `severities` only, when given)."""
    chosen = [e for e in episodes if severities is None or e.severity in severities]
    account_days = len(judged_labels)
    churners = set(judged_labels.loc[judged_labels["label"] == 1, "account_id"])
    if chosen:
        frame = pd.DataFrame(
            {"account_id": [e.account_id for e in chosen], "snapshot_date": [e.day for e in chosen]}
        )
        frame["snapshot_date"] = pd.to_datetime(frame["snapshot_date"])
        alerts = labelled(frame, accounts, horizon_days, clock)
    else:
        alerts = pd.DataFrame({"account_id": [], "label": []})
    true_alerts = int(alerts["label"].sum())
    caught = set(alerts.loc[alerts["label"] == 1, "account_id"])
    return {
        "alerts": len(alerts),
        "true_alerts": true_alerts,
        "alerts_per_100_accounts_per_week": 100 * len(alerts) / (account_days / 7) if account_days else None,
        "precision": true_alerts / len(alerts) if len(alerts) else None,
        "churners": len(churners),
        "churners_caught": len(caught & churners),
        "recall": len(caught & churners) / len(churners) if churners else None,
    }


TIERS: dict[str, tuple[str, ...] | None] = {"all": None, "urgent": URGENT}


def summarise(
    result: Replay, accounts: pd.DataFrame, horizon_days: int, clock: datetime
) -> dict[str, dict[str, Any]]:
    """Per variant and tier (`all`, `urgent`): the measures, plus what the gate did."""
    judged_labels = labelled(result.judged, accounts, horizon_days, clock)
    out: dict[str, dict[str, Any]] = {}
    for name, counts in result.variants.items():
        out[name] = {
            tier: measure(counts.episodes, judged_labels, accounts, horizon_days, clock, severities)
            for tier, severities in TIERS.items()
        }
        out[name]["gate_held_alert_days"] = counts.held_by_gate
        out[name]["gate_downgraded_alert_days"] = counts.downgraded
    return out


def equal_recall_point(
    off: Mapping[str, Any], sweep: Sequence[tuple[float, Mapping[str, Any]]]
) -> tuple[float, Mapping[str, Any]] | None:
    """The widest cutoff whose recall is at least `off`'s (sweep: (share, measures), any order)."""
    target = off["recall"] or 0.0
    ok = [(share, m) for share, m in sweep if (m["recall"] or 0.0) >= target - 1e-12]
    return max(ok, key=lambda item: item[0]) if ok else None


def days_above(gated: Mapping[date, int], off: Mapping[date, int]) -> list[date]:
    """Days on which the gated replay first-notified more alerts than the replay without the gate."""
    return sorted(d for d, n in gated.items() if n > off.get(d, 0))


# ---------------------------------------------------------------- the whole evaluation


def default_period(
    con: duckdb.DuckDBPyConnection, clock: datetime, horizon_days: int, weeks: int
) -> tuple[date, date]:
    """The last `weeks` weeks whose whole horizon is observed by the clock."""
    end = (clock - timedelta(days=horizon_days)).date()
    return end - timedelta(days=7 * weeks - 1), end


def evaluate_gate(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    start: date | None = None,
    end: date | None = None,
    weeks: int = 26,
    scores: str | pd.DataFrame = "walk_forward",
    shares: Sequence[float] = DEFAULT_SHARES,
    clock: datetime | None = None,
) -> dict[str, Any]:
    """Replay the rules over the period with the gate off, as configured, and at each low-risk
    share; return the report (see the module docstring for every definition)."""
    clock = data_clock(con) if clock is None else clock
    horizon = settings.config.churn.horizon_days
    if start is None or end is None:
        start, end = default_period(con, clock, horizon, weeks)
    latest_end = (clock - timedelta(days=horizon)).date()
    if end > latest_end:
        raise HealthwatchError(
            f"the period ends {end}, after {latest_end}: alerts after it cannot be labelled yet "
            f"(their {horizon}-day horizon is not observed)",
            f"end the period on or before {latest_end}",
        )
    first = start - timedelta(days=WARMUP_DAYS)
    folds: list[dict[str, Any]] = []
    if isinstance(scores, pd.DataFrame):
        score_frame, source = complete_scores(scores), "given"
    elif scores == "history":
        score_frame, source = history_scores(con), SCORE_HISTORY
    else:
        score_frame, folds = walk_forward_scores(con, settings, first, end)
        source = "walk_forward"

    rules = load_alert_rules(settings.alert_rules_path)
    in_period = score_frame.loc[(score_frame["as_of_date"] >= first) & (score_frame["as_of_date"] <= end)]
    quantiles = (
        {share: float(np.quantile(in_period["churn_probability"], share)) for share in shares}
        if len(in_period)
        else {}
    )
    # A cutoff of 0 (calibration maps many accounts to 0) calls nobody low-risk: it is the gate off.
    cutoffs = {share: cutoff for share, cutoff in quantiles.items() if cutoff > 0}
    variants = {"off": gate_variant(rules, "off"), "configured": rules}
    variants |= {
        f"share_{share:g}": gate_variant(rules, "cutoff", cutoff) for share, cutoff in cutoffs.items()
    }
    result = replay(
        con, variants, settings.config.calendar, load_company_calendar(settings), score_frame, start, end
    )
    accounts = load_accounts(con)
    measures = summarise(result, accounts, horizon, clock)

    equal_recall: dict[str, Any] = {}
    for tier in TIERS:
        sweep = [(share, measures[f"share_{share:g}"][tier]) for share in cutoffs]
        point = equal_recall_point(measures["off"][tier], sweep)
        equal_recall[tier] = (
            {"low_risk_share": point[0], "max_probability": cutoffs[point[0]], **point[1]}
            if point is not None
            else None
        )
    per_day = {name: counts.per_day for name, counts in result.variants.items()}
    gated = [
        name for name in rules.enabled_types() if rules.effective(name, None).model_gate.action != "none"
    ]
    return {
        "as_of": clock.isoformat(),
        "period": {"start": start.isoformat(), "end": end.isoformat(), "warmup_days": WARMUP_DAYS},
        "accounts_judged": int(result.judged["account_id"].nunique()),
        "account_days": len(result.judged),
        "horizon_days": horizon,
        "churn_definition": settings.config.churn.definition,
        "scores": {"source": source, "folds": folds},
        "gated_types": {name: rules.effective(name, None).model_gate.action for name in gated},
        "rules_alone": measures["off"],
        "gate_configured": measures["configured"],
        "gate_sweep": [
            {"low_risk_share": share, "max_probability": cutoffs[share], **measures[f"share_{share:g}"]}
            for share in cutoffs
        ],
        "equal_recall": equal_recall,
        "days_gate_above_rules": {
            name: [d.isoformat() for d in days_above(per_day[name], per_day["off"])]
            for name in per_day
            if name != "off"
        },
        "method": (
            "alerts = dedup-key episodes counted on their first notification; precision and recall by the "
            "model's churn label (churn within the horizon after the alert day); equal recall = the widest "
            "probability cutoff of the per-type gate whose recall is at least the rules' recall"
        ),
    }


def table(report: Mapping[str, Any]) -> str:
    """The report as a small text table."""
    lines = [
        f"{report['accounts_judged']:,} accounts, {report['account_days']:,} account-days, "
        f"{report['period']['start']} to {report['period']['end']}; churn = {report['churn_definition']}, "
        f"horizon {report['horizon_days']} days; scores: {report['scores']['source']}",
        f"{'':34} {'tier':7} {'alerts':>7} {'/100 acc/wk':>11} {'precision':>9} {'recall':>7}",
    ]
    rows: list[tuple[str, Mapping[str, Any]]] = [
        ("rules alone", report["rules_alone"]),
        ("rules + gate (alert_rules.yml)", report["gate_configured"]),
    ]
    rows += [
        (f"rules + gate, p < {s['max_probability']:.4f} ({s['low_risk_share']:.0%})", s)
        for s in report["gate_sweep"]
    ]
    for label, m in rows:
        for tier in TIERS:
            t = m[tier]
            lines.append(
                f"{label:34} {tier:7} {t['alerts']:>7,} {_num(t['alerts_per_100_accounts_per_week'], 2):>11} "
                f"{_num(t['precision']):>9} {_num(t['recall']):>7}"
            )
    for tier, point in report["equal_recall"].items():
        if point is None:
            lines.append(f"equal recall ({tier}): no gate cutoff keeps the rules' recall")
        else:
            off = report["rules_alone"][tier]
            lines.append(
                f"equal recall ({tier}, {_num(off['recall'])}): gate at p < {point['max_probability']:.4f} "
                f"({point['low_risk_share']:.0%} of scores) gives {_num(point['alerts_per_100_accounts_per_week'], 2)} "
                f"alerts/100/wk at precision {_num(point['precision'])} vs {_num(off['alerts_per_100_accounts_per_week'], 2)} "
                f"at {_num(off['precision'])}"
            )
    return "\n".join(lines)


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def to_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2, default=str) + "\n"
