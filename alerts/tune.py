"""Threshold advice from the feedback loop (`healthwatch tune`): the article's quarterly review.

For each alert type and segment with enough closed tasks (`alerts.alert_outcomes`) and a precision
below the target, replay the type's tuning knob (`alerts.conditions.TuningKnob`) over the evidence
the alerts fired with: the tightest observed value that lifts precision to the target while keeping
at least `min_recall` of the true positives is proposed. Advice only: alert_rules.yml is never
edited; a person reads the report and changes the file.
"""

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from alerts.conditions import ALERT_TYPES, TuningKnob
from alerts.feedback import OUTCOMES_TABLE
from alerts.rules import AlertRulesFile
from alerts.schema import ALERTS_TABLE
from healthwatch.warehouse import table_exists

DEFAULT_TARGET_PRECISION = 0.6
DEFAULT_MIN_OUTCOMES = 5
DEFAULT_MIN_RECALL = 0.8


@dataclass(frozen=True)
class Advice:
    """One (alert type, segment) line of the report."""

    alert_type: str
    segment: str
    outcomes: int
    true_positives: int
    precision: float
    threshold: str | None
    current_value: Any
    proposed_value: Any
    precision_after: float | None
    true_positives_kept: int | None
    alerts_after: int | None
    verdict: str  # keep | tighten | review

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _knob_value(evidence: Mapping[str, Any], knob: TuningKnob) -> float | None:
    value = evidence.get(knob.evidence)
    if value is None or isinstance(value, str | bool):
        return None
    return float(value) * knob.sign


def propose(
    samples: list[tuple[float, bool]], knob: TuningKnob, target: float, min_recall: float
) -> tuple[float, float, int, int] | None:
    """The loosest value `v` (among the samples) at which alerts still firing have precision ≥ target
    and keep ≥ min_recall of the true positives: (v, precision, true positives kept, alerts kept)."""
    positives = sum(1 for _, tp in samples if tp)
    if not positives:
        return None
    ordered = sorted({v for v, _ in samples}, reverse=knob.stricter == "lower")
    for v in ordered:
        kept = [tp for value, tp in samples if (value >= v if knob.stricter == "higher" else value <= v)]
        hits = sum(kept)
        if hits < min_recall * positives:
            break
        if kept and hits / len(kept) >= target:
            return v, hits / len(kept), hits, len(kept)
    return None


def threshold_advice(
    con: duckdb.DuckDBPyConnection,
    rules: AlertRulesFile,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    min_outcomes: int = DEFAULT_MIN_OUTCOMES,
    min_recall: float = DEFAULT_MIN_RECALL,
) -> list[Advice]:
    """Advice per alert type and segment from the outcomes collected so far."""
    if not table_exists(con, OUTCOMES_TABLE):
        return []
    rows = con.execute(
        f"""select o.alert_type, coalesce(o.segment, 'unknown'), o.is_true_positive, h.evidence
        from {OUTCOMES_TABLE} as o inner join {ALERTS_TABLE} as h using (alert_id)
        order by o.alert_type, o.segment, o.alert_id"""
    ).fetchall()
    groups: dict[tuple[str, str], list[tuple[bool, dict]]] = {}
    for alert_type, segment, tp, evidence in rows:
        groups.setdefault((alert_type, segment), []).append((bool(tp), json.loads(evidence or "{}")))
    out = []
    for (alert_type, segment), items in sorted(groups.items()):
        n, tps = len(items), sum(tp for tp, _ in items)
        precision = tps / n
        spec = ALERT_TYPES.get(alert_type)
        knob = spec.tuning if spec is not None else None
        current = None
        if knob is not None:
            current = getattr(rules.effective(alert_type, segment).thresholds, knob.key, None)
        base = dict(
            alert_type=alert_type,
            segment=segment,
            outcomes=n,
            true_positives=tps,
            precision=round(precision, 4),
            threshold=knob.key if knob else None,
            current_value=current,
        )
        if n < min_outcomes or precision >= target_precision:
            out.append(
                Advice(
                    **base,
                    proposed_value=None,
                    precision_after=None,
                    true_positives_kept=None,
                    alerts_after=None,
                    verdict="keep",
                )
            )
            continue
        samples = []
        if knob is not None:
            samples = [(v, tp) for tp, ev in items if (v := _knob_value(ev, knob)) is not None]
        found = propose(samples, knob, target_precision, min_recall) if knob and samples else None
        if found is None:
            out.append(
                Advice(
                    **base,
                    proposed_value=None,
                    precision_after=None,
                    true_positives_kept=None,
                    alerts_after=None,
                    verdict="review",
                )
            )
            continue
        value, after, kept_tp, kept = found
        value *= knob.sign
        proposed = round(value) if knob.integer else round(value, 4)
        out.append(
            Advice(
                **base,
                proposed_value=proposed,
                precision_after=round(after, 4),
                true_positives_kept=kept_tp,
                alerts_after=kept,
                verdict="tighten",
            )
        )
    return out


def write_report(advice: list[Advice], path: Path, clock: datetime, target_precision: float) -> Path:
    """The advice as a markdown report a CS-ops lead reads before editing alert_rules.yml."""
    lines = [
        "# Alert threshold advice",
        "",
        f"Outcomes up to {clock:%Y-%m-%d %H:%M} UTC; target precision {target_precision:.0%}. "
        "`tighten`: the proposed value keeps most true positives and reaches the target; "
        "`review`: precision is low and no single threshold fixes it (look at the rule); "
        "`keep`: precise enough, or too few outcomes to judge.",
        "",
        "| alert type | segment | outcomes | precision | threshold | current | proposed | precision after | TP kept | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for a in advice:
        after = "" if a.precision_after is None else f"{a.precision_after:.0%}"
        kept = "" if a.true_positives_kept is None else f"{a.true_positives_kept}/{a.true_positives}"
        lines.append(
            f"| {a.alert_type} | {a.segment} | {a.outcomes} | {a.precision:.0%} | {a.threshold or ''} | "
            f"{'' if a.current_value is None else a.current_value} | "
            f"{'' if a.proposed_value is None else a.proposed_value} | {after} | {kept} | {a.verdict} |"
        )
    if not advice:
        lines.append("| – | – | 0 | – | – | – | – | – | – | no outcomes yet |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
