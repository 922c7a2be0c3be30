"""Resources: the one handle assets use to reach settings and the warehouse."""

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from healthwatch.config import Settings, load_settings
from healthwatch.memory import release_memory
from healthwatch.warehouse import connect


class HealthwatchResource(dg.ConfigurableResource):
    """Settings and warehouse access. Unset fields fall back to HEALTHWATCH_WAREHOUSE and
    HEALTHWATCH_CONFIG, read when a run starts, not at import."""

    warehouse: str | None = None
    config_path: str | None = None

    def settings(self) -> Settings:
        env = dict(os.environ)
        if self.warehouse:
            env["HEALTHWATCH_WAREHOUSE"] = self.warehouse
        if self.config_path:
            env["HEALTHWATCH_CONFIG"] = self.config_path
        return load_settings(env)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        settings = self.settings()  # this resource's config, not the process's working directory
        try:
            with connect(settings.warehouse, read_only=read_only, settings=settings.duckdb_settings) as con:
                yield con
        finally:
            release_memory()  # the run's next step starts from what this one no longer needs
