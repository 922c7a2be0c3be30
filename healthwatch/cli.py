"""`healthwatch`: everything a person runs outside the Dagster UI.

Each command calls the same code the Dagster assets call; pipeline work runs as Dagster jobs in
this process, on the instance under DAGSTER_HOME, so it shows in the UI's run history.
"""

import os
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from alerts import cli as alerts_cli
from healthwatch.batches import data_clock
from healthwatch.cdc.command import cdc_app
from healthwatch.config import Settings, load_settings
from healthwatch.errors import HealthwatchError
from healthwatch.quarantine_cli import quarantine_app
from healthwatch.warehouse import connect, table_exists

app = typer.Typer(
    help="Real-time account health alerts for customer-success teams.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
export_app = typer.Typer(help="Export import-ready files.", no_args_is_help=True)
app.add_typer(export_app, name="export")
bench_app = typer.Typer(help="Benchmarks, with JSON output.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(cdc_app, name="cdc")
app.add_typer(alerts_cli.silence_app, name="silence")
app.add_typer(alerts_cli.storm_app, name="storm")
app.command("tune")(alerts_cli.tune)
console = Console()
REPO_ROOT = Path(__file__).resolve().parent.parent


def _day_progress(description: str) -> Progress:
    return Progress(
        TextColumn(f"[bold]{description}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _simulate(settings: Settings, accounts: int, days: int, seed: int, replace: bool) -> None:
    from healthwatch.simulator import simulate_configured

    if settings.warehouse.exists() and not replace:
        with connect(settings.warehouse) as con:
            has_data = table_exists(con, "cdc.crm_changes")
        if has_data:
            raise HealthwatchError(
                f"the warehouse {settings.warehouse} already holds data",
                "pass --replace to start over, or set HEALTHWATCH_WAREHOUSE to another file",
            )
    if replace and settings.warehouse.exists():
        settings.warehouse.unlink()
        shutil.rmtree(settings.data_dir / "outbox", ignore_errors=True)
    last_day = settings.config.simulation.start_date + timedelta(days=days - 1)
    if last_day > date.today():
        console.print(
            f"[yellow]warning:[/yellow] this world runs to {last_day}, past today: the change-row screen "
            "quarantines rows dated after now, so `healthwatch run` will refuse its future days. "
            "Simulate fewer days, or set simulation.start_date earlier in healthwatch.yml."
        )
    with connect(settings.warehouse) as con, _day_progress("Simulating") as progress:
        task = progress.add_task("simulate", total=days)
        summary = simulate_configured(
            con,
            settings,
            accounts=accounts,
            days=days,
            seed=seed,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    rows = sum(summary.change_rows.values())
    console.print(
        f"Simulated {summary.accounts} accounts from {summary.first_day} to {summary.last_day}: "
        f"{rows:,} change rows in {settings.warehouse}"
    )


def _stream(settings: Settings, days: int) -> None:
    from healthwatch.simulator import stream as run_stream

    with connect(settings.warehouse) as con, _day_progress("Streaming") as progress:
        task = progress.add_task("stream", total=days)
        summary = run_stream(
            con, days=days, progress=lambda done, total: progress.update(task, completed=done, total=total)
        )
    rows = sum(summary.change_rows.values())
    console.print(f"Streamed to {summary.last_day}: {rows:,} new change rows")


def _run_job(settings: Settings, job_name: str, label: str, tags: dict[str, str] | None = None) -> None:
    from pipelines.run import run_job

    # The spinner goes to stderr: the job's own output is sent to a log file while it runs.
    with Console(stderr=True).status(f"[bold]{label}[/] ({job_name})…"):
        started = time.monotonic()
        outcome = run_job(
            job_name, settings, tags=tags, log_path=settings.data_dir / "logs" / f"{job_name}.log"
        )
    console.print(
        f"{label}: {len(outcome.materialized)} assets in {time.monotonic() - started:.0f} s (run {outcome.run_id[:8]})"
    )


def _require_warehouse(settings: Settings) -> None:
    if not settings.warehouse.exists():
        raise HealthwatchError(
            f"no warehouse at {settings.warehouse}",
            "run `healthwatch simulate` (or `healthwatch demo`), or set HEALTHWATCH_WAREHOUSE to an existing file",
        )


@app.command()
def simulate(
    accounts: Annotated[
        int | None, typer.Option(min=20, help="Accounts to simulate (default: demo.accounts).")
    ] = None,
    days: Annotated[int | None, typer.Option(min=60, help="Days of history (default: demo.days).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: demo.seed).")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Delete an existing warehouse first.")] = False,
) -> None:
    """Write a simulated customer base and its change history into the warehouse."""
    settings = load_settings()
    demo = settings.config.demo
    _simulate(
        settings, accounts or demo.accounts, days or demo.days, demo.seed if seed is None else seed, replace
    )


@app.command()
def stream(days: Annotated[int, typer.Option(min=1, max=365, help="Days to advance.")] = 1) -> None:
    """Advance the simulated world, appending change rows as CDC would."""
    settings = load_settings()
    _require_warehouse(settings)
    _stream(settings, days)


@app.command()
def run(
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild every table from the change tables.")
    ] = False,
) -> None:
    """Process the pending change rows (or rebuild everything): signals, scores, alerts and CRM tasks."""
    settings = load_settings()
    _require_warehouse(settings)
    _process_changes(settings, full_refresh)


def _process_changes(settings: Settings, full_refresh: bool = False, label: str = "Rescoring") -> None:
    from healthwatch.batches import pending_batch, scope_summary

    with connect(settings.warehouse) as con:
        pending = pending_batch(con, full_refresh=full_refresh)
    if not full_refresh and pending.total_rows == 0:
        console.print("No pending change rows: nothing to do.")
        return
    tables = ", ".join(f"{table.split('.')[1]}: {rows:,}" for table, rows in pending.rows.items() if rows)
    console.print(f"Pending change rows — {tables}")
    tags = {"healthwatch/full_refresh": "true"} if full_refresh else {}
    _run_job(settings, "rescore_job", "Rebuilding" if full_refresh else label, tags)
    with connect(settings.warehouse, read_only=True) as con:
        scope = scope_summary(con)
    if full_refresh:
        console.print(
            f"Rebuilt all {scope.changed_accounts + scope.rolled_accounts} accounts from {scope.first_day}"
        )
    else:
        console.print(
            f"Recomputed {scope.changed_accounts} accounts with changes (from {scope.first_day} at the earliest) "
            f"and moved {scope.rolled_accounts} unchanged accounts on to the new day"
        )


@app.command()
def train() -> None:
    """Retrain the churn model; it is promoted only if not worse than the current one on the same holdout."""
    settings = load_settings()
    _require_warehouse(settings)
    _run_job(settings, "train_job", "Training")
    _print_models(settings)


@app.command()
def backtest(
    out: Annotated[Path, typer.Option(help="Folder for backtest.json and backtest.html.")] = Path(
        "data/backtest"
    ),
    bootstrap: Annotated[
        int, typer.Option(min=0, help="Bootstrap replicates for the 95% intervals (0: none).")
    ] = 200,
) -> None:
    """Model vs logistic regression vs the static rules: train on the earlier window, evaluate on the later one."""
    from ml.backtest import run_backtest

    settings = load_settings()
    _require_warehouse(settings)
    with connect(settings.warehouse, read_only=True) as con:
        result = run_backtest(con, settings, out, bootstrap=bootstrap)
    console.print(result.summary(), highlight=False, soft_wrap=True)


@app.command()
def send(
    requeue_failed: Annotated[
        bool, typer.Option("--requeue-failed", help="Give failed rows a fresh attempt budget first.")
    ] = False,
) -> None:
    """Deliver what the outbox holds: SendGrid with SENDGRID_API_KEY (host: HEALTHWATCH_SENDGRID_HOST),
    else rendered to files; Slack rows with HEALTHWATCH_SLACK_WEBHOOK_URL. Digests are queued by their
    schedules (`digest_job`, `weekly_digest_job`) and critical mails by every rescoring run."""
    from delivery.outbox import outbox_stats
    from delivery.outbox import requeue_failed as requeue
    from delivery.pipeline import endpoints_from, send_outbox

    settings = load_settings()
    _require_warehouse(settings)
    endpoints = endpoints_from(os.environ)
    with connect(settings.warehouse) as con:
        if requeue_failed:
            console.print(f"Requeued {requeue(con)} failed message(s)")
        summary = send_outbox(
            con,
            settings,
            endpoints.sendgrid_api_key,
            endpoints.sendgrid_host,
            slack_webhook_url=endpoints.slack_webhook_url,
        )
        stats = outbox_stats(con)
    done = ", ".join(f"{k} {v}" for k, v in summary.to_dict().items() if v)
    console.print(f"Outbox: {done or 'nothing due'}; now {stats['by_status'] or 'empty'}")
    if not endpoints.sendgrid_api_key:
        console.print(f"No SENDGRID_API_KEY: mails were rendered to {settings.outbox_dir}")


@app.command()
def load(
    path: Annotated[
        Path,
        typer.Argument(
            help="A folder of accounts.csv, events.parquet, ... or Debezium *.jsonl files, or one file."
        ),
    ],
) -> None:
    """Load contract-shaped CSV / Parquet extracts or Debezium JSON lines, validating every row.

    Bad rows go to quarantine.<table> with the reason; good rows become change rows for `healthwatch run`.
    """
    from healthwatch.loader import load_path

    settings = load_settings()
    progress = Progress(
        TextColumn("[bold]Loading[/] {task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    )
    with connect(settings.warehouse) as con, progress:
        task = progress.add_task("", total=None)
        report = load_path(
            con,
            path,
            progress=lambda step, done, total: progress.update(
                task, description=step, completed=done, total=total
            ),
        )
    for line in report.summary_lines():
        console.print(line, highlight=False)
    console.print("Next: `healthwatch run` processes the new change rows.")


@export_app.command("extracts")
def export_extracts(
    out: Annotated[Path, typer.Option(help="Folder to write the files to.")],
    fmt: Annotated[str, typer.Option("--format", help="csv, parquet or debezium.")] = "csv",
) -> None:
    """Write the warehouse's sources as contract-shaped files (current state) or its change log as Debezium JSON."""
    from healthwatch.loader import export_extracts as write_extracts

    if fmt not in ("csv", "parquet", "debezium"):
        raise HealthwatchError(f"unknown format {fmt!r}", "use --format csv, parquet or debezium")
    settings = load_settings()
    _require_warehouse(settings)
    with connect(settings.warehouse, read_only=True) as con:
        written = write_extracts(con, out, fmt=fmt)  # type: ignore[arg-type]
    console.print(f"Wrote {sum(written.values()):,} rows in {len(written)} files to {out}")


@export_app.command("crm-tasks")
def export_crm_tasks(
    fmt: Annotated[
        str, typer.Option("--format", help="salesforce (Data Loader), hubspot (import tool) or plain.")
    ] = "plain",
    out: Annotated[
        Path | None,
        typer.Option(help="CSV file to write (default: data/exports/crm_tasks[_FORMAT].csv)."),
    ] = None,
    owner_map: Annotated[
        Path | None,
        typer.Option(help="CSV with columns email,crm_user_id: fills Salesforce's OwnerId (see README)."),
    ] = None,
) -> None:
    """Write the open CRM tasks as a CSV ready for a CRM's import tool (columns in the README)."""
    from delivery.crm_tasks import EXPORT_FORMATS, load_owner_map
    from delivery.pipeline import crm_tasks_csv_name
    from delivery.pipeline import export_crm_tasks as write_export

    if fmt not in EXPORT_FORMATS:
        raise HealthwatchError(f"unknown format {fmt!r}", f"use --format {' or '.join(EXPORT_FORMATS)}")
    settings = load_settings()
    _require_warehouse(settings)
    path = out or settings.exports_dir / crm_tasks_csv_name(fmt)
    if path.exists() and path.is_dir():
        raise HealthwatchError(f"{path} is a folder", "give a file name, e.g. --out tasks.csv")
    owner_ids = load_owner_map(owner_map) if owner_map else None
    with connect(settings.warehouse, read_only=True) as con:
        count = write_export(con, path, fmt, owner_ids)
    console.print(f"Wrote {count} tasks to {path} ({fmt})")


@app.command()
def summary() -> None:
    """Print accounts by health class, open alerts and the top five."""
    from healthwatch.report import print_summary, summarize

    settings = load_settings()
    _require_warehouse(settings)
    with connect(settings.warehouse, read_only=True) as con:
        print_summary(summarize(con), console)


@app.command()
def demo(
    accounts: Annotated[int | None, typer.Option(min=20, help="Accounts (default: demo.accounts).")] = None,
    days: Annotated[int | None, typer.Option(min=60, help="Days of history (default: demo.days).")] = None,
    stream_days: Annotated[int | None, typer.Option(min=0, help="Days streamed after the build.")] = None,
) -> None:
    """Simulate, build everything, stream a few days through the rescoring path, print the summary."""
    from healthwatch.report import print_summary, summarize

    settings = load_settings()
    cfg = settings.config.demo
    n_stream = cfg.stream_days if stream_days is None else stream_days
    _simulate(settings, accounts or cfg.accounts, days or cfg.days, cfg.seed, replace=True)
    _run_job(settings, "healthwatch_job", "Building everything")
    for day in range(1, n_stream + 1):
        _stream(settings, 1)
        _process_changes(settings, label=f"Rescoring streamed day {day}/{n_stream}")
    _run_job(settings, "digest_job", "Digests")
    with connect(settings.warehouse, read_only=True) as con:
        print_summary(summarize(con), console)
        clock = data_clock(con)
    console.print(f"Digests (HTML and text): {settings.outbox_dir}")
    console.print(f"CRM-task export: {settings.exports_dir / 'crm_tasks.csv'}")
    console.print(f"Warehouse: {settings.warehouse} (data clock {clock:%Y-%m-%d %H:%M} UTC)")
    console.print("Open the Dagster UI on this warehouse: [bold]make ui[/]  (or `healthwatch ui`)")


@bench_app.command("latency")
def bench_latency(
    changes: Annotated[int, typer.Option(min=1, help="Changes to measure, one at a time.")] = 20,
    accounts: Annotated[int, typer.Option(min=20, help="Accounts in the simulated warehouse.")] = 200,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures here.")] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Folder for the warehouse and the Dagster home.")
    ] = None,
) -> None:
    """Time from a change's commit to its alert row and outbox row, with the daemon and sensors running."""
    import json
    import tempfile

    from bench.latency import run_latency_bench

    folder = workdir or Path(tempfile.mkdtemp(prefix="healthwatch-latency-"))
    figures = run_latency_bench(folder, changes=changes, accounts=accounts)
    summary = {k: v for k, v in figures.items() if k != "measurements"}
    console.print_json(data=summary)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(figures, indent=2, default=str) + "\n")


@bench_app.command("scale")
def bench_scale(
    tier: Annotated[str, typer.Option(help="S (500 x 180), M (10,000 x 365) or L (100,000 x 365).")] = "S",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures here.")] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Folder for the warehouses (default: a temporary one).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the simulated world.")] = 7,
    touch_share: Annotated[
        float, typer.Option(min=0.0001, max=1.0, help="Share of accounts the streamed day changes.")
    ] = 0.01,
    history_check: Annotated[
        bool | None,
        typer.Option(
            "--history-check/--no-history-check",
            help="Also run a world with twice the days (incremental_730_vs_365); default: only for L.",
        ),
    ] = None,
    reuse_world: Annotated[
        bool,
        typer.Option(
            "--reuse-world", help="Keep a world simulated earlier in --workdir (derived tables dropped)."
        ),
    ] = False,
) -> None:
    """Full build (dbt, training, scoring, alerts, delivery) and a 1%-of-accounts incremental run, with peak RSS."""
    import json

    from bench.scale import TIERS, run_scale_bench

    tier = tier.upper()
    if tier not in TIERS:
        raise HealthwatchError(f"unknown tier {tier!r}", f"use one of {', '.join(TIERS)}")
    figures = run_scale_bench(
        tier, workdir, seed=seed, touch_share=touch_share, history_check=history_check, reuse=reuse_world
    )
    summary = {
        k: v
        for k, v in figures.items()
        if k not in ("phases", "doubled_history", "dbt_models_full_s", "dbt_models_incremental_s")
    }
    console.print_json(data=summary)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(figures, indent=2, default=str) + "\n")


@app.command()
def prepare() -> None:
    """Parse the dbt project into its manifest with the same vars the runs use (run by `make`)."""
    from pipelines.project import DBT_EXECUTABLE, DBT_PROJECT_DIR, dbt_cli_args

    settings = load_settings()
    command = [
        DBT_EXECUTABLE,
        *dbt_cli_args("parse", settings),
        "--quiet",
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
    ]
    completed = subprocess.run(command, cwd=DBT_PROJECT_DIR, check=False)
    if completed.returncode != 0:
        raise HealthwatchError("dbt parse failed", "read dbt's message above; fix the model it names")


@app.command()
def ui(port: Annotated[int, typer.Option(help="Port of the Dagster UI.")] = 3000) -> None:
    """Start `dagster dev` on this warehouse (DAGSTER_HOME beside it unless set)."""
    from pipelines.run import ensure_instance_config

    settings = load_settings()
    ensure_instance_config(settings.dagster_home)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(settings.dagster_home),
        "HEALTHWATCH_WAREHOUSE": str(settings.warehouse),
    }
    dagster = Path(sys.executable).parent / "dagster"
    console.print(
        f"Dagster UI on http://127.0.0.1:{port} (DAGSTER_HOME={settings.dagster_home}); Ctrl-C stops it"
    )
    command = [
        str(dagster),
        "dev",
        "-w",
        str(REPO_ROOT / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    raise typer.Exit(subprocess.run(command, cwd=REPO_ROOT, env=env, check=False).returncode)


def _print_models(settings: Settings) -> None:
    from ml.registry import latest_promotion

    current = settings.models_dir / "current"
    if current.exists():
        console.print(f"Current model: {current.read_text().strip()} ({settings.models_dir})")
    latest = latest_promotion(settings.models_dir)
    if latest is not None:
        version, decision = latest
        verdict = "promoted" if decision.get("promoted") else "not promoted"
        console.print(
            f"Newest trained: {version}, {verdict}: {decision.get('reason')}", highlight=False, soft_wrap=True
        )


def main() -> None:
    """Entry point: HealthwatchError becomes one line on stderr and exit code 2, never a traceback."""
    try:
        app()
    except HealthwatchError as exc:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        raise SystemExit(2) from None
