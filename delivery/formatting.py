"""Small pure functions that turn alert fields into words people read (mails, CRM tasks, exports)."""

import math
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MINUS = "−"

SEGMENT_LABELS = {"enterprise": "Enterprise", "mid_market": "Mid-market", "smb": "SMB"}


def humanize(name: str | None) -> str:
    """`payment_failure` → `Payment failure`."""
    if not name:
        return ""
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def segment_label(segment: str | None) -> str:
    return SEGMENT_LABELS.get(segment or "", humanize(segment))


def crm_priority(priority: int) -> str:
    """The three-level priority CRMs know: High for P1–3, Normal for P4–6, Low for P7–9."""
    if priority <= 3:
        return "High"
    if priority <= 6:
        return "Normal"
    return "Low"


def money(amount: float | None) -> str:
    """ARR in a compact form: `$1.2M`, `$120k`, `$950`."""
    if amount is None or (isinstance(amount, float) and math.isnan(amount)):
        return "n/a"
    value = float(amount)
    if abs(value) >= 1_000_000:
        return f"${value / 1_000_000:.1f}M".replace(".0M", "M")
    if abs(value) >= 1_000:
        return f"${value / 1_000:.0f}k"
    return f"${value:.0f}"


def number(value: Any) -> str:
    """A metric value: integers with thousands separators, other numbers with at most 2 decimals."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    text = f"{int(value):,}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0").rstrip(".")
    return text.replace("-", MINUS)


def signed(value: float, suffix: str = "") -> str:
    sign = "+" if value > 0 else ""
    return f"{sign}{number(value)}{suffix}"


def percent(probability: float | None) -> str:
    """A probability 0–1 as a whole percentage."""
    if probability is None or (isinstance(probability, float) and math.isnan(probability)):
        return "n/a"
    return f"{probability * 100:.0f}%"


def _change_text(change: Any) -> str:
    """The relative change the alert engine stores as a fraction (−0.42 → `−42%`); text as it is."""
    if isinstance(change, str):
        return change
    if isinstance(change, bool) or not isinstance(change, int | float) or math.isnan(change):
        return ""
    return signed(round(change * 100), "%")


def _window_text(window: Any) -> str:
    if isinstance(window, int) and not isinstance(window, bool):
        return f"{window} day" if window == 1 else f"{window} days"
    return str(window)


def evidence_text(evidence: Any) -> str:
    """One line from the alert's evidence JSON: `Logins 7d: 70 vs baseline 120 (−42%) · 7d`."""
    if not evidence:
        return ""
    if not isinstance(evidence, dict):
        return str(evidence)
    metric = humanize(evidence.get("metric")) or "Metric"
    baseline, current = evidence.get("baseline"), evidence.get("current")
    parts = [metric + ":"]
    if current is not None:
        parts.append(number(current))
    if baseline is not None:
        parts.append(f"vs baseline {number(baseline)}")
    change = _change_text(evidence.get("change"))
    if change:
        parts.append(f"({change})")
    text = " ".join(parts)
    if evidence.get("window") not in (None, ""):
        text += f" · {_window_text(evidence['window'])}"
    return text


def trend_text(scores: list[float] | tuple[float, ...]) -> str:
    """Health scores oldest first: `72 → 61 → 48`."""
    return " → ".join(f"{score:.0f}" for score in scores)


def zone(name: str | None) -> ZoneInfo:
    """The named IANA timezone, or UTC when it is missing or unknown."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(moment: datetime | None, timezone: str | None) -> str:
    """A naive-UTC timestamp shown in a person's timezone: `Fri 27 Feb 09:00 EST`."""
    if moment is None:
        return "no due date"
    local = moment.replace(tzinfo=UTC).astimezone(zone(timezone))
    return f"{local:%a} {local.day} {local:%b %H:%M} {local.tzname()}"


def utc_time(moment: datetime | None) -> str:
    return "n/a" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} d"


def due_relative(due: datetime | None, now: datetime) -> str:
    """`in 3 h`, `overdue by 2 d`."""
    if due is None:
        return ""
    if abs(due - now) < timedelta(minutes=1):
        return "due now"
    if due < now:
        return f"overdue by {_span(now - due)}"
    return f"in {_span(due - now)}"


_SPARK = "▁▂▃▄▅▆▇█"


def sparkline(scores: list[float] | tuple[float, ...]) -> str:
    """Health scores 0–100 as block characters on the absolute scale: `▆▅▃`."""
    marks = []
    for score in scores:
        clamped = min(100.0, max(0.0, float(score)))
        marks.append(_SPARK[min(len(_SPARK) - 1, int(clamped / 100 * len(_SPARK)))])
    return "".join(marks)


def one_line(text: str | None) -> str:
    """A header-safe single line (mail subjects): control characters become spaces."""
    if not text:
        return ""
    cleaned = "".join(" " if ord(ch) < 32 or ord(ch) == 127 else ch for ch in text)
    return " ".join(cleaned.split())


def slack_escape(text: object) -> str:
    """Escape the three characters Slack's mrkdwn treats as markup: `&`, `<`, `>`."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def iso_week(moment: datetime) -> str:
    """`2026-W09`: the ISO week a weekly digest covers."""
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def day_label(moment: datetime) -> str:
    """`Fri 27 Feb 2026`."""
    return f"{moment:%a} {moment.day} {moment:%b %Y}"


def precision_text(precision: float | None) -> str:
    if precision is None or (isinstance(precision, float) and math.isnan(precision)):
        return "not enough outcomes yet"
    return f"{precision * 100:.0f}%"
