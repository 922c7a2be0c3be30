"""`healthwatch silence add | list | expire`, `healthwatch tune` and `healthwatch storm list |
release | discard`: operating the alert engine.

Registered on the main `healthwatch` app (healthwatch/cli.py); each calls alerts.silences or
alerts.tune, the same code the pipeline uses.
"""

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from healthwatch.config import load_settings
from healthwatch.errors import HealthwatchError
from healthwatch.warehouse import connect

console = Console()
silence_app = typer.Typer(
    help="Silence alerts by account, segment and type, with a start, an end and a reason."
)

_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """`90m`, `4h`, `3d`, `2w` as a timedelta."""
    text = text.strip().lower()
    if len(text) < 2 or text[-1] not in _UNITS or not text[:-1].isdigit() or int(text[:-1]) <= 0:
        raise HealthwatchError(f"bad duration {text!r}", "use a positive number and a unit: 90m, 4h, 3d, 2w")
    return timedelta(**{_UNITS[text[-1]]: int(text[:-1])})


def _parse_time(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise HealthwatchError(
            f"bad {option} {text!r}", "use ISO 8601, e.g. 2026-03-14T06:00 (UTC)"
        ) from None


def _settings_with_warehouse():
    settings = load_settings()
    if not settings.warehouse.exists():
        raise HealthwatchError(
            f"no warehouse at {settings.warehouse}", "run `healthwatch demo` or `healthwatch run`"
        )
    return settings


@silence_app.command("add")
def silence_add(
    reason: Annotated[str, typer.Option(help="Why (shown on every alert it holds back).")],
    account: Annotated[list[str] | None, typer.Option(help="Account id to match (repeatable).")] = None,
    segment: Annotated[
        list[str] | None, typer.Option(help="enterprise | mid_market | smb (repeatable).")
    ] = None,
    alert_type: Annotated[
        list[str] | None, typer.Option("--type", help="Alert type to match (repeatable).")
    ] = None,
    start: Annotated[str | None, typer.Option(help="Start, ISO 8601 UTC (default: the data clock).")] = None,
    end: Annotated[str | None, typer.Option(help="End, ISO 8601 UTC.")] = None,
    duration: Annotated[str | None, typer.Option(help="Or a duration from the start: 4h, 3d, 2w.")] = None,
    created_by: Annotated[str | None, typer.Option(help="Who adds it.")] = None,
) -> None:
    """Add a silence: matching alerts are suppressed from the next alert run until it ends."""
    from alerts.silences import add_silence

    settings = _settings_with_warehouse()
    with connect(settings.warehouse) as con:
        silence = add_silence(
            con,
            reason=reason,
            account_ids=account or (),
            segments=segment or (),
            alert_types=alert_type or (),
            starts_at=_parse_time(start, "--start"),
            ends_at=_parse_time(end, "--end"),
            duration=parse_duration(duration) if duration else None,
            created_by=created_by,
        )
    console.print(
        f"Silence {silence.silence_id}: {silence.starts_at:%Y-%m-%d %H:%M} → {silence.ends_at:%Y-%m-%d %H:%M} UTC"
    )


@silence_app.command("list")
def silence_list(
    all_: Annotated[bool, typer.Option("--all", help="Include expired silences.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List pending and active silences (and expired ones with --all)."""
    from alerts.silences import list_silences

    settings = _settings_with_warehouse()
    with connect(settings.warehouse, read_only=True) as con:
        silences = list_silences(con, include_expired=all_)
    if as_json:
        for s in silences:
            print(json.dumps(s, default=str))
        return
    table = Table("id", "state", "accounts", "segments", "types", "start (UTC)", "end (UTC)", "reason")
    for s in silences:
        table.add_row(
            s["silence_id"],
            s["state"],
            ", ".join(s["account_ids"]) or "*",
            ", ".join(s["segments"]) or "*",
            ", ".join(s["alert_types"]) or "*",
            f"{s['starts_at']:%Y-%m-%d %H:%M}",
            f"{s['ends_at']:%Y-%m-%d %H:%M}",
            s["reason"],
        )
    console.print(table if silences else "No silences.")


@silence_app.command("expire")
def silence_expire(silence_id: Annotated[str, typer.Argument(help="The id `silence list` shows.")]) -> None:
    """End a silence now: its alerts come back on the next alert run."""
    from alerts.silences import expire_silence

    settings = _settings_with_warehouse()
    with connect(settings.warehouse) as con:
        silence = expire_silence(con, silence_id)
    console.print(f"Silence {silence.silence_id} ends {silence.ends_at:%Y-%m-%d %H:%M} UTC")


def tune(
    out: Annotated[
        Path | None, typer.Option(help="Report file (default: data/exports/threshold_advice.md).")
    ] = None,
    target_precision: Annotated[float, typer.Option(min=0.05, max=1.0, help="Precision to aim for.")] = 0.6,
    min_outcomes: Annotated[int, typer.Option(min=1, help="Closed tasks a rule needs before advice.")] = 5,
) -> None:
    """Collect task outcomes into alerts.alert_outcomes and alerts.rule_performance, then write a
    threshold-advice report proposing tighter thresholds where precision is low."""
    from alerts.feedback import collect_outcomes
    from alerts.rules import load_alert_rules
    from alerts.tune import threshold_advice, write_report

    settings = _settings_with_warehouse()
    rules = load_alert_rules(settings.alert_rules_path)
    with connect(settings.warehouse) as con:
        summary = collect_outcomes(con)
        advice = threshold_advice(con, rules, target_precision=target_precision, min_outcomes=min_outcomes)
    path = write_report(
        advice, out or settings.exports_dir / "threshold_advice.md", summary.clock, target_precision
    )
    overall = "n/a" if summary.precision is None else f"{summary.precision:.0%}"
    tighten = sum(a.verdict == "tighten" for a in advice)
    console.print(
        f"{summary.outcomes} outcomes, precision {overall}; {tighten} thresholds to tighten: {path}"
    )


storm_app = typer.Typer(help="Alert storms: runs that opened far more alerts than usual, held from delivery.")


@storm_app.command("list")
def storm_list(
    all_storms: Annotated[bool, typer.Option("--all", help="include released and discarded storms")] = False,
) -> None:
    """Show alert storms (held ones block every delivery until released or discarded)."""
    from alerts.storm import storms

    settings = _settings_with_warehouse()
    with connect(settings.warehouse) as con:
        found = storms(con, status=None if all_storms else "held")
    if not found:
        console.print("No held alert storms." if not all_storms else "No alert storms.")
        return
    table = Table("storm id", "alerts opened", "usual per day", "threshold", "status", "note")
    for s in found:
        table.add_row(s.storm_id, str(s.opened), f"{s.usual:g}", f"{s.threshold:g}", s.status, s.note or "")
    console.print(table)


@storm_app.command("release")
def storm_release(storm_id: Annotated[str, typer.Argument(help="The id `storm list` shows.")]) -> None:
    """The alerts were real: let the next run deliver them (tasks, mails, Slack)."""
    from alerts.storm import decide

    settings = _settings_with_warehouse()
    with connect(settings.warehouse) as con:
        count = decide(con, storm_id, "release", datetime.now(), note="released")
    console.print(
        f"Released {storm_id}: {count} live alerts will be delivered by the next run (`healthwatch run`)"
    )


@storm_app.command("discard")
def storm_discard(
    storm_id: Annotated[str, typer.Argument(help="The id `storm list` shows.")],
    reason: Annotated[str, typer.Option("--reason", help="why, e.g. 'product events feed broken'")],
) -> None:
    """The alerts came from broken data: resolve them unsent, with the reason."""
    from alerts.storm import decide

    settings = _settings_with_warehouse()
    with connect(settings.warehouse) as con:
        count = decide(con, storm_id, "discard", datetime.now(), note=reason)
    console.print(f"Discarded {storm_id}: {count} alerts resolved unsent ({reason})")
