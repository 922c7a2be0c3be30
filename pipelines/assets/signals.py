"""The dbt project as assets: staging, intermediate and the signal marts, with dbt tests as checks."""

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from data_quality.quarantine import screen_pending
from healthwatch.batches import open_batch, scope_summary
from pipelines.project import (
    dbt_cli_args,
    dbt_project,
    keep_partial_parse,
    prune_invocation_folders,
    require_tables_of_this_version,
)
from pipelines.resources import HealthwatchResource


class SignalsTranslator(DagsterDbtTranslator):
    """Keys follow the warehouse (`signals/account_signals_daily`); sources keep `cdc/<table>`."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "signals"


@dbt_assets(
    manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=SignalsTranslator()
)
def signals_dbt(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, healthwatch: HealthwatchResource
) -> Iterator[Any]:
    """Build the signal tables from the pending change rows (dbt build: models and their tests).

    The new change rows are screened first (bad rows to `quarantine.<system>_changes`, schema
    drift fails the run). The batch of pending rows is opened here and marked processed by the run's last step
    (`ops/processed_changes`), so a run that fails anywhere is retried with the same rows."""
    full_refresh = context.run.tags.get("healthwatch/full_refresh") == "true"
    with healthwatch.connect() as con:
        if not full_refresh:
            require_tables_of_this_version(con, dbt_project.manifest_path)
        # Bad rows to quarantine, the rest through; schema drift stops the run here.
        screened = screen_pending(con)
        batch = open_batch(con, full_refresh=full_refresh)
    for outcome in screened:
        if outcome.rows_quarantined:
            context.log.warning(
                f"{outcome.table}: {outcome.rows_quarantined} of {outcome.rows_screened} new change rows "
                f"quarantined ({outcome.by_expectation}); see `healthwatch quarantine list`"
            )
    if batch.total_rows == 0 and not full_refresh:
        # Nothing arrived since the last run (a queued run whose rows an earlier one took):
        # materialize nothing, so the scores, alerts and tasks downstream are skipped too.
        context.log.info("no pending change rows: nothing to rebuild")
        return
    context.log.info(f"change rows to process: {batch.rows} (full refresh: {full_refresh})")
    args = dbt_cli_args("build", healthwatch.settings(), full_refresh=full_refresh)
    invocation = dbt.cli(args, context=context)
    yield from invocation.stream()
    keep_partial_parse(invocation.target_path)
    pruned = prune_invocation_folders(invocation.target_path)
    if pruned:
        context.log.info(f"deleted {len(pruned)} idle dbt target folder(s) of earlier runs")
    with healthwatch.connect() as con:
        scope = scope_summary(con)
    context.log.info(
        f"recomputed {scope.changed_accounts} accounts with changes and rolled {scope.rolled_accounts} "
        f"others forward (from {scope.first_day})"
    )


def signals_key(name: str) -> dg.AssetKey:
    """Asset key of a signal mart, e.g. signals_key('account_features')."""
    return dg.AssetKey(["signals", name])
