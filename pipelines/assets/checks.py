"""Data-quality checks from data_quality/, attached to the assets they guard."""

from collections.abc import Iterator

import dagster as dg

from alerts.storm import held_storms
from data_quality.change_tables import validate_feeds, validate_pending_changes
from data_quality.suites import validate_signals, validate_sources
from healthwatch.contract import SOURCE_TABLES
from pipelines.assets.sources import CHANGE_TABLE_KEYS
from pipelines.resources import HealthwatchResource

ENVELOPE_CHECKS = [
    dg.AssetCheckSpec(
        name="change_envelope",
        asset=key,
        blocking=True,
        description="The change table still has exactly the envelope's columns (seq, source_table, op, "
        "key, before, after, source_ts, ingested_at): anything else is schema drift and blocks the run "
        "(Great Expectations). Bad single rows are quarantined by the signals step instead.",
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
                "seq_range": f"{outcome.first_seq}-{outcome.last_seq}",
                **_suite_metadata(outcome.rows_checked, outcome.failures),
            },
        )


FEED_CHECKS = [
    dg.AssetCheckSpec(
        name="feed",
        asset=key,
        description="Volume and freshness (WARN): each complete day of new rows within 0.1x-10x of the "
        "28-day median, and the newest row at most 72 h behind the data clock (Great Expectations).",
    )
    for key in CHANGE_TABLE_KEYS.values()
]


@dg.multi_asset_check(specs=FEED_CHECKS, name="change_feed_checks")
def change_feed_checks(healthwatch: HealthwatchResource) -> Iterator[dg.AssetCheckResult]:
    """Warn when a feed looks broken: a flood or a trickle of rows, or nothing new for days."""
    with healthwatch.connect(read_only=True) as con:
        outcomes = validate_feeds(con)
    for outcome in outcomes:
        yield dg.AssetCheckResult(
            asset_key=CHANGE_TABLE_KEYS[outcome.table],
            check_name="feed",
            passed=outcome.passed,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "hours_behind_clock": outcome.hours_behind_clock,
                "days": dg.MetadataValue.json(outcome.days),
                **_suite_metadata(len(outcome.days), outcome.failures),
            },
        )


SOURCE_CHECKS = [
    dg.AssetCheckSpec(
        name="contract",
        asset=dg.AssetKey(["staging", f"stg_{table.system}__{table.name}"]),
        blocking=True,
        description="Staged rows whose keys changed meet the source contract: key present and unique, "
        "contract columns present, accepted values and ranges (Great Expectations).",
    )
    for table in SOURCE_TABLES
    if table.name != "events"
]


@dg.multi_asset_check(specs=SOURCE_CHECKS, name="source_contract_checks")
def source_contract_checks(
    context: dg.AssetCheckExecutionContext, healthwatch: HealthwatchResource
) -> Iterator[dg.AssetCheckResult]:
    """Validate the staged rows of this run's batch against the source contract."""
    full_refresh = context.run.tags.get("healthwatch/full_refresh") == "true"
    with healthwatch.connect(read_only=True) as con:
        outcomes = validate_sources(con, full_refresh=full_refresh)
    for outcome in outcomes:
        yield dg.AssetCheckResult(
            asset_key=dg.AssetKey(outcome.table.split(".")),
            check_name="contract",
            passed=outcome.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata=_suite_metadata(outcome.rows_checked, outcome.failures),
        )


@dg.asset_check(
    asset=dg.AssetKey(["signals", "account_signals_daily"]),
    name="signal_ranges",
    blocking=True,
    description="Rebuilt signal rows: keys present and unique per day, counts not negative, rates "
    "within 0-1, NPS within 0-10 (Great Expectations). Blocks scoring and alerts when it fails.",
)
def signal_ranges_check(
    context: dg.AssetCheckExecutionContext, healthwatch: HealthwatchResource
) -> dg.AssetCheckResult:
    """Validate the signal rows this run rebuilt."""
    full_refresh = context.run.tags.get("healthwatch/full_refresh") == "true"
    with healthwatch.connect(read_only=True) as con:
        outcome = validate_signals(con, full_refresh=full_refresh)
    return dg.AssetCheckResult(
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=_suite_metadata(outcome.rows_checked, outcome.failures),
    )


@dg.asset_check(
    asset=dg.AssetKey(["alerts", "health_alerts"]),
    name="no_alert_storm",
    description="No run opened far more alerts than usual (alerts/storm.py). While a storm is held, CRM "
    "tasks, mails and Slack are not delivered: `healthwatch storm list | release | discard`.",
)
def alert_storm_check(healthwatch: HealthwatchResource) -> dg.AssetCheckResult:
    """The one operator alert of a held storm: fails (WARN) until a person releases or discards it."""
    with healthwatch.connect(read_only=True) as con:
        held = held_storms(con)
    return dg.AssetCheckResult(
        passed=not held,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "held_storms": dg.MetadataValue.json(
                [{"storm_id": s.storm_id, "opened": s.opened, "usual": s.usual, "threshold": s.threshold}
                 for s in held]
            ),
        },
    )  # fmt: skip


def _suite_metadata(rows_checked: int, failures: list) -> dict:
    return {
        "rows_checked": rows_checked,
        "failing_expectations": len(failures),
        "failures": dg.MetadataValue.json(
            [
                {"expectation": f.expectation, "column": f.column, "unexpected": f.unexpected_count,
                 "examples": f.examples}
                for f in failures
            ]
        ),
    }  # fmt: skip
