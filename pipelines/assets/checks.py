"""Data-quality checks from data_quality/, attached to the assets they guard."""

from collections.abc import Iterator

import dagster as dg

from data_quality.change_tables import validate_pending_changes
from pipelines.assets.sources import CHANGE_TABLE_KEYS
from pipelines.resources import HealthwatchResource

ENVELOPE_CHECKS = [
    dg.AssetCheckSpec(
        name="change_envelope",
        asset=key,
        blocking=True,
        description="Pending change rows are well-formed: seq present, op in c|u|d|r, "
        "source_table a contract table, key and timestamps present (Great Expectations).",
    )
    for key in CHANGE_TABLE_KEYS.values()
]


@dg.multi_asset_check(specs=ENVELOPE_CHECKS, name="change_envelope_checks")
def change_envelope_checks(
    context: dg.AssetCheckExecutionContext, healthwatch: HealthwatchResource
) -> Iterator[dg.AssetCheckResult]:
    """Validate the change rows this run will process (all of them on a full refresh)."""
    full_refresh = context.run.tags.get("healthwatch/full_refresh") == "true"
    with healthwatch.connect() as con:
        outcomes = validate_pending_changes(con, full_refresh=full_refresh)
    for outcome in outcomes:
        yield dg.AssetCheckResult(
            asset_key=CHANGE_TABLE_KEYS[outcome.table],
            check_name="change_envelope",
            passed=outcome.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "rows_checked": outcome.rows_checked,
                "seq_range": f"{outcome.first_seq}-{outcome.last_seq}",
                "failing_expectations": len(outcome.failures),
                "failures": dg.MetadataValue.json(
                    [
                        {"expectation": f.expectation, "column": f.column, "unexpected": f.unexpected_count,
                         "examples": f.examples}
                        for f in outcome.failures
                    ]
                ),
            },
        )  # fmt: skip
