"""The dbt project as Dagster sees it, and the arguments every dbt invocation gets."""

import json
import os
import shutil
import sys
import tempfile
import time
from functools import cached_property
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import duckdb
from dagster_dbt import DbtCliResource, DbtProject
from packaging import version

from healthwatch.config import Settings
from healthwatch.errors import HealthwatchError

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"

# The manifest is prepared by `make prepare` (`healthwatch prepare`), never at import time.
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

PARTIAL_PARSE_FILE = "partial_parse.msgpack"

# Each dbt invocation of a run gets its own target folder (dagster-dbt: `<op>-<run id>-<uuid>`,
# ~6 MB at 100,000 accounts: dbt.log, manifest, compiled SQL). The newest are kept to debug with;
# the others go once idle, or a sensor-driven deployment would fill its disk (~1.7 GB a day at a
# run every 5 minutes).
KEEP_INVOCATIONS = 20
INVOCATION_IDLE_S = 3600.0

# The dbt installed beside this Python, so runs do not depend on PATH (STACK.md trap 3).
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


class DbtResource(DbtCliResource):
    """dagster-dbt's resource without two costs it pays on every invocation, 2.9 s of each run:
    `dbt --version` in a subprocess (1.9 s) and every macro parsed in this process (1.0 s) for an
    adapter handle that only its column-metadata and row-count helpers use (healthwatch calls
    neither). The dbt it runs is the dbt-core installed beside this Python, so the version is read
    from the package. Both are private methods of the pinned dagster-dbt: a change there fails the
    pipeline tests, which run this resource."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(package_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Any) -> None:
        return None


def dbt_vars(settings: Settings) -> dict[str, object]:
    """The dbt vars that carry healthwatch.yml and the warehouse path into dbt."""
    return {
        "warehouse_path": str(settings.warehouse),
        "core_features": list(settings.config.product.core_features),
        "churn_definition": settings.config.churn.definition,
        "churn_inactive_days": settings.config.churn.inactive_days,
        "signals_part_account_days": settings.config.warehouse.signals_part_account_days,
        # DuckDB memory limit, threads and spill folder, read by profiles.yml (`settings:`).
        **{f"duckdb_{name}": value for name, value in settings.duckdb_settings.items()},
    }


def dbt_cli_args(command: str, settings: Settings, full_refresh: bool = False) -> list[str]:
    """Arguments for one dbt command. The vars are serialised the same way every time, because
    dbt drops its partial parse when they change (STACK.md trap 4)."""
    args = [*command.split(), "--vars", json.dumps(dbt_vars(settings), sort_keys=True)]
    if full_refresh:
        args.append("--full-refresh")
    elif command == "build":
        # dbt's unit tests check models' SQL on fixed rows, not the data: full builds (and the test
        # suite's) run them, a rescoring run does not repeat them (~1 s a run).
        args += ["--exclude-resource-type", "unit_test"]
    return args


def keep_partial_parse(invocation_target: Path) -> bool:
    """Hand a run's parse back to the target folder above its own, which dagster-dbt copies into
    every new invocation's folder: dbt re-parses the whole project when its vars differ from the
    parse it finds (a warehouse or memory setting other than `healthwatch prepare`'s), 2.4 s of
    every rescoring run at 100,000 accounts. Replaced atomically; returns whether one was kept."""
    source = invocation_target / PARTIAL_PARSE_FILE
    if not source.is_file():
        return False
    handle, staged = tempfile.mkstemp(dir=invocation_target.parent, prefix=f".{PARTIAL_PARSE_FILE}.")
    with os.fdopen(handle, "wb") as out:
        out.write(source.read_bytes())
    os.replace(staged, invocation_target.parent / PARTIAL_PARSE_FILE)
    return True


def prune_invocation_folders(
    invocation_target: Path, keep: int = KEEP_INVOCATIONS, idle_s: float = INVOCATION_IDLE_S
) -> list[Path]:
    """Delete the target folders of older invocations of the same op beside this one: all but the
    `keep` most recently active, and of those only folders idle for `idle_s` (a run still going on
    another worker appends to its dbt.log). Returns the folders deleted."""
    prefix = invocation_target.name.rsplit("-", 2)[0] + "-"
    now = time.time()

    def last_active(folder: Path) -> float | None:
        try:
            log_file = folder / "dbt.log"
            return max(folder.stat().st_mtime, log_file.stat().st_mtime if log_file.exists() else 0.0)
        except FileNotFoundError:  # pruned meanwhile by another run
            return None

    found = [
        (last_active(folder), folder)
        for folder in invocation_target.parent.iterdir()
        if folder.is_dir() and folder.name.startswith(prefix) and folder != invocation_target
    ]
    others = sorted(((active, folder) for active, folder in found if active is not None), reverse=True)
    pruned = [folder for active, folder in others[max(keep - 1, 0) :] if now - active > idle_s]
    for folder in pruned:
        shutil.rmtree(folder, ignore_errors=True)
    return pruned


def tables_built_by_an_earlier_version(con: duckdb.DuckDBPyConnection, manifest_path: Path) -> list[str]:
    """The incremental tables (with a contract) already in the warehouse whose columns are not the
    ones their model now declares: a version that adds a column to a signal mart, or types a staged
    JSON property. An incremental run cannot change them (`on_schema_change: fail`, never
    half-filled); a full refresh rebuilds them from the change tables."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    built: dict[tuple[str, str], set[str]] = {}
    for schema, table, column in con.execute(
        "select table_schema, table_name, column_name from information_schema.columns"
    ).fetchall():
        built.setdefault((schema, table), set()).add(column)
    stale = []
    for node in manifest["nodes"].values():
        config = node.get("config", {})
        if node["resource_type"] != "model" or config.get("materialized") != "incremental":
            continue
        if not config.get("contract", {}).get("enforced"):
            continue
        have = built.get((node["schema"], node["alias"]))
        if have is not None and have != set(node["columns"]):
            stale.append(f"{node['schema']}.{node['alias']}")
    return sorted(stale)


def require_tables_of_this_version(con: duckdb.DuckDBPyConnection, manifest_path: Path) -> None:
    """Refuse an incremental run on the tables `tables_built_by_an_earlier_version` finds, naming the fix."""
    stale = tables_built_by_an_earlier_version(con, manifest_path)
    if stale:
        raise HealthwatchError(
            f"{', '.join(stale)} were built by an earlier version of healthwatch: their columns are "
            "not the ones the models now declare, and an incremental run cannot change them",
            "rebuild them from the change tables: `healthwatch run --full-refresh` (the nightly "
            "rebuild job does it too); the pending change rows wait for it",
        )
