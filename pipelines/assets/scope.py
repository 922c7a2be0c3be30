"""Which accounts a run's downstream steps work on."""

import dagster as dg
import duckdb

from healthwatch.batches import scope_accounts


def rebuilt_accounts(context: dg.AssetExecutionContext, con: duckdb.DuckDBPyConnection) -> list[str] | None:
    """The accounts the signals step of this run rebuilt; None (every account) on a full rebuild
    or when this run did not rebuild signals (e.g. scores materialized alone after a retrain)."""
    if context.run.tags.get("healthwatch/full_refresh") == "true":
        return None
    # The assets this run materializes: the job's, narrowed to a subset when one was launched.
    # (`context.run.asset_selection` is empty, not None, for a whole job started by the API.)
    selected = context.job_def.asset_layer.selected_asset_keys
    if not any(key.path[0] == "signals" for key in selected):
        return None
    return scope_accounts(con)
