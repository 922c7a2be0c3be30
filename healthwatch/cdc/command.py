"""`healthwatch cdc postgres`: the command line of the PostgreSQL CDC reader."""

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from healthwatch.errors import HealthwatchError

DSN_ENV = "HEALTHWATCH_CDC_PG_DSN"

cdc_app = typer.Typer(
    help="Stream changes from a source database into the change tables.", no_args_is_help=True
)


def _check_dsn(ctx: typer.Context, dsn: str | None) -> str:
    if not dsn:
        raise HealthwatchError(
            "no PostgreSQL source DSN", f"set {DSN_ENV}, e.g. postgresql://user@host:5432/db (password too)"
        )
    from psycopg2.extensions import parse_dsn

    from healthwatch.cdc.reader import libpq_dsn

    try:
        has_password = bool(parse_dsn(libpq_dsn(dsn)).get("password"))
    except Exception as exc:  # psycopg2.ProgrammingError; its message would echo the DSN
        raise HealthwatchError(
            "the PostgreSQL source DSN cannot be parsed", "write it as postgresql://user@host:port/db"
        ) from exc
    # typer vendors click: compare the parameter source by name
    source = ctx.get_parameter_source("dsn")
    if has_password and getattr(source, "name", "") == "COMMANDLINE":
        raise HealthwatchError(
            "a password on the command line is visible to every user of this machine",
            f"put the DSN in {DSN_ENV} (or the password in PGPASSWORD) instead",
        )
    return dsn


@cdc_app.command("postgres")
def postgres(
    ctx: typer.Context,
    tables: Annotated[
        str | None,
        typer.Option(help="Source tables to stream, schema.table,... (default: every table of --mapping)."),
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(
            help="Mapping YAML: source table -> contract table and columns (cdc_mapping.example.yml)."
        ),
    ] = None,
    dsn: Annotated[
        str | None,
        typer.Option(
            envvar=DSN_ENV,
            show_envvar=True,
            show_default=False,
            help="Source DSN; with a password only from the environment.",
        ),
    ] = None,
    slot: Annotated[str, typer.Option(help="Replication slot name.")] = "healthwatch",
    create_slot: Annotated[
        bool, typer.Option("--create-slot", help="Create the slot (and take the first snapshot) if missing.")
    ] = False,
    snapshot: Annotated[
        bool, typer.Option(help="When creating the slot, write the existing rows as op r first.")
    ] = True,
    replica_identity_full: Annotated[
        bool,
        typer.Option(
            "--replica-identity-full",
            help="ALTER the source tables to REPLICA IDENTITY FULL, so updates and deletes carry the whole before image.",
        ),
    ] = False,
    max_batch_delay: Annotated[
        float,
        typer.Option(min=0.0, help="Seconds a committed change may wait under load before it is written."),
    ] = 0.5,
) -> None:
    """Stream a PostgreSQL logical replication slot (wal2json) into cdc.<system>_changes until SIGTERM."""
    from healthwatch.cdc.mapping import load_mapping
    from healthwatch.cdc.reader import Reader, ReaderConfig
    from healthwatch.config import load_settings

    source_dsn = _check_dsn(ctx, dsn)
    mapped = load_mapping(mapping, [t.strip() for t in tables.split(",") if t.strip()] if tables else None)
    settings = load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    config = ReaderConfig(
        dsn=source_dsn,
        warehouse=settings.warehouse,
        tables=mapped,
        slot=slot,
        create_slot=create_slot,
        snapshot=snapshot,
        replica_identity_full=replica_identity_full,
        max_batch_delay=max_batch_delay,
    )
    stats = Reader(config, stop).run()
    written = ", ".join(f"{n} rows to {t}" for t, n in sorted(stats.rows.items())) or "no rows"
    typer.echo(f"stopped: {stats.transactions} transactions, {written}", err=True)
