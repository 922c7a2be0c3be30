"""The change tables: written outside Dagster (simulator, loader, CDC readers), watched by the CDC sensor."""

import dagster as dg

from healthwatch.warehouse import SOURCE_SYSTEMS, change_table

CHANGE_TABLE_KEYS: dict[str, dg.AssetKey] = {
    change_table(system): dg.AssetKey(["cdc", f"{system}_changes"]) for system in SOURCE_SYSTEMS
}

change_tables = [
    dg.AssetSpec(
        key=key,
        group_name="sources",
        description=f"Debezium-style change rows of the {table.split('.')[1].removesuffix('_changes')} system "
        "(seq, source_table, op, key, before, after, source_ts, ingested_at).",
        kinds={"duckdb"},
    )
    for table, key in CHANGE_TABLE_KEYS.items()
]

# Change rows the screen refused (data_quality/quarantine.py), written by the signals step, read by dbt.
quarantine_tables = [
    dg.AssetSpec(
        key=dg.AssetKey(["quarantine", f"{system}_changes"]),
        group_name="sources",
        description=f"Change rows of the {system} system refused by the screen, with the expectation, "
        "column and value; staging skips them (`healthwatch quarantine list | export | replay`).",
        kinds={"duckdb"},
    )
    for system in SOURCE_SYSTEMS
]

# Bookkeeping the signals step writes around its dbt build (healthwatch.batches), read by dbt.
ops_tables = [
    dg.AssetSpec(
        key=dg.AssetKey(["ops", "change_batch"]),
        group_name="sources",
        description="Seq ranges of the change rows the current run processes.",
        kinds={"duckdb"},
    ),
    dg.AssetSpec(
        key=dg.AssetKey(["ops", "processed_clock"]),
        group_name="sources",
        description="The data clock's day up to which the last committed run built every account.",
        kinds={"duckdb"},
    ),
    dg.AssetSpec(
        key=dg.AssetKey(["ops", "processed_times"]),
        group_name="sources",
        description="The first and last source time of each change table's processed rows, quarantined "
        "rows aside: the data clock reads these and the rows not processed yet, not the whole history.",
        kinds={"duckdb"},
    ),
]
