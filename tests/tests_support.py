"""Helpers shared by the test folders (importable as `tests_support`)."""

import dataclasses
from pathlib import Path

from healthwatch.config import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parent.parent

# Small enough to build in well under a minute, large enough for the model to find churners.
WORLD = {"accounts": 150, "days": 150, "seed": 11}


def settings_at(warehouse: Path) -> Settings:
    """Settings for a warehouse file, with the repo's healthwatch.yml, without touching os.environ."""
    env = {"HEALTHWATCH_WAREHOUSE": str(warehouse), "HEALTHWATCH_CONFIG": str(REPO_ROOT / "healthwatch.yml")}
    return load_settings(env=env, cwd=REPO_ROOT)


def in_parts(settings: Settings, account_days: int) -> Settings:
    """The same settings with the signal marts rebuilt in parts of at most `account_days`."""
    warehouse = settings.config.warehouse.model_copy(update={"signals_part_account_days": account_days})
    return dataclasses.replace(settings, config=settings.config.model_copy(update={"warehouse": warehouse}))


def simulate_into(settings: Settings, accounts: int, days: int, seed: int) -> None:
    from healthwatch.simulator import simulate_configured
    from healthwatch.warehouse import connect

    with connect(settings.warehouse) as con:
        simulate_configured(con, settings, accounts=accounts, days=days, seed=seed)


def rounded_rows(rows: list[tuple]) -> list[tuple]:
    """Rows with floats rounded to 9 places: DuckDB's parallel sums may differ in the last bit."""
    return [tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in rows]


def assert_admitted_rows_stage(con) -> None:
    """Every change row the screen admitted casts to its contract types exactly as dbt staging
    casts them (macros/cdc.sql, cdc_columns): no admitted row can break a dbt build."""
    from healthwatch.contract import SOURCE_TABLES
    from healthwatch.warehouse import change_table, quarantine_table

    for table in SOURCE_TABLES:
        casts = ", ".join(
            f"json_extract(coalesce(after, before), '$.{c}')" if kind == "json"
            else f"cast(json_extract_string(coalesce(after, before), '$.{c}') as {kind})"
            for c, kind in table.columns.items()
        )  # fmt: skip
        con.execute(
            f"""select {casts} from {change_table(table.system)} c
            where source_table = '{table.name}' and not exists (select 1 from {quarantine_table(table.system)} q
                where q.seq = c.seq and q.ingested_at = c.ingested_at)"""
        ).fetchall()
