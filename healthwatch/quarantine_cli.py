"""`healthwatch quarantine list | export | replay`: see, fix and re-admit refused change rows."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from healthwatch.config import load_settings
from healthwatch.errors import HealthwatchError
from healthwatch.warehouse import SOURCE_SYSTEMS, connect

quarantine_app = typer.Typer(
    help="Change rows the screen refused: list them, export them to fix, replay the fixed ones.",
    no_args_is_help=True,
)
console = Console()
SystemOption = Annotated[str | None, typer.Option("--system", help=f"one of {', '.join(SOURCE_SYSTEMS)}")]


def _system(system: str | None) -> str | None:
    if system is not None and system not in SOURCE_SYSTEMS:
        raise HealthwatchError(f"unknown system {system!r}", f"use one of {', '.join(SOURCE_SYSTEMS)}")
    return system


@quarantine_app.command("list")
def list_rows(
    system: SystemOption = None,
    all_rows: Annotated[bool, typer.Option("--all", help="include rows already replayed")] = False,
) -> None:
    """Show the quarantined change rows: which expectation each failed, on which column and value."""
    from data_quality.quarantine import held_rows

    settings = load_settings()
    with connect(settings.warehouse) as con:
        rows = held_rows(con, _system(system), include_replayed=all_rows)
    if not rows:
        console.print("No quarantined change rows.")
        return
    table = Table(
        "change table", "seq", "source table", "key", "expectation", "column", "value", "at", "status"
    )
    for row in rows:
        table.add_row(row.change_table, str(row.seq), row.source_table or "", row.key or "", row.expectation,
                      row.column_name or "", row.value or "", f"{row.quarantined_at:%Y-%m-%d %H:%M}", row.status)  # fmt: skip
    console.print(table)


@quarantine_app.command("export")
def export_rows(
    out: Annotated[Path, typer.Option("--out", help="JSON lines file to write")] = Path("quarantine.jsonl"),
    system: SystemOption = None,
) -> None:
    """Write the held rows as JSON lines (with why each was refused), to correct and replay."""
    from data_quality.quarantine import export_held

    settings = load_settings()
    with connect(settings.warehouse) as con:
        count = export_held(con, out, _system(system))
    console.print(f"{count} held rows written to {out}; fix them, then `healthwatch quarantine replay {out}`")


@quarantine_app.command("replay")
def replay_rows(path: Annotated[Path, typer.Argument(help="the corrected JSON lines file")]) -> None:
    """Re-admit corrected rows as new change rows; the next run screens and processes them."""
    from data_quality.quarantine import replay

    if not path.exists():
        raise HealthwatchError(f"no file {path}", "write one with `healthwatch quarantine export --out FILE`")
    fixed = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                fixed.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise HealthwatchError(
                    f"{path}:{number} is not JSON ({exc.msg})", "fix that line and replay"
                ) from exc
    settings = load_settings()
    with connect(settings.warehouse) as con:
        outcome = replay(con, fixed)
    console.print(
        f"{outcome.readmitted} rows re-admitted; `healthwatch run` (or the sensors) will process them"
    )
    for reason in outcome.refused:
        console.print(f"[yellow]not replayed[/]: {reason}")
