"""Project settings: `healthwatch.yml` (validated) plus the paths chosen by environment variables.

Nothing here runs at import time: call `load_settings()` when a command or an asset starts.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from healthwatch.errors import HealthwatchError
from healthwatch.yaml_config import load_yaml_model

DEFAULT_WAREHOUSE = "data/warehouse.duckdb"
DEFAULT_CONFIG = "healthwatch.yml"


def cores() -> int:
    """CPU cores of this machine (the default of every thread setting)."""
    return os.cpu_count() or 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChurnConfig(_Strict):
    """How churn is defined and how far ahead the model looks.

    `contract`: the latest contract is cancelled, or runs out 30 days without a renewal.
    `inactivity`: no product activity for `inactive_days` days (self-serve businesses without
    contracts); the account counts as churned on the day that inactivity is reached.
    """

    definition: Literal["contract", "inactivity"] = "contract"
    inactive_days: int = Field(30, ge=7, le=365)
    horizon_days: int = Field(90, ge=7, le=365)


class DemoConfig(_Strict):
    accounts: int = Field(500, ge=20)
    days: int = Field(180, ge=60)
    seed: int = 7
    stream_days: int = Field(3, ge=0, le=60)


class SimulationConfig(_Strict):
    """The simulated world starts on this date (fixed, so a seed gives the same world on any day)."""

    start_date: date = date(2025, 9, 1)


class BusinessHours(_Strict):
    start_hour: int = Field(9, ge=0, le=23)
    end_hour: int = Field(17, ge=1, le=24)

    @model_validator(mode="after")
    def _ordered(self) -> "BusinessHours":
        if self.end_hour <= self.start_hour:
            raise ValueError("end_hour must be after start_hour")
        return self


class CalendarConfig(_Strict):
    """Business calendar for SLAs: working hours and the holiday country per owner timezone."""

    business_hours: BusinessHours = BusinessHours()
    default_country: str = "US"
    country_by_timezone: dict[str, str] = Field(
        default_factory=lambda: {
            "America/New_York": "US",
            "America/Chicago": "US",
            "America/Los_Angeles": "US",
            "Europe/London": "GB",
            "Europe/Berlin": "DE",
            "Europe/Paris": "FR",
            "Asia/Singapore": "SG",
            "Australia/Sydney": "AU",
        }
    )


class ModelConfig(_Strict):
    """Churn model training settings."""

    # Training and scoring each run alone in their step (DuckDB is idle then; one writer run at a
    # time), and LightGBM's trees do not depend on its threads (deterministic, row-wise): at
    # 100,000 accounts training took 11.8-12.1 s on one thread, 6.6 s on two; explaining every
    # score (LightGBM's contributions) 11.7 s on one thread, 6.1 s on two.
    num_threads: int = Field(default_factory=cores, ge=1, le=64)
    predict_threads: int = Field(default_factory=cores, ge=1, le=64)
    num_boost_round: int = Field(300, ge=10)
    early_stopping_rounds: int = Field(30, ge=5)
    min_training_positives: int = Field(10, ge=1)
    # Above this many snapshots in signals.account_features, training reads a fixed sample of whole
    # accounts that fits in it (ml.features.sample_accounts): about 1.6 GB of memory per 5 M rows.
    max_training_snapshots: int = Field(1_000_000, ge=1_000)


class WarehouseConfig(_Strict):
    """DuckDB resources of every connection that does heavy work: dbt, the simulator, the Python steps.

    DuckDB's own default memory limit is 80% of RAM, which a full build then takes (and other
    processes on the machine lose); with a limit, big operators spill to `temp_directory` instead.
    Each can be overridden by HEALTHWATCH_DUCKDB_MEMORY_LIMIT, _THREADS and _TEMP_DIRECTORY.
    """

    memory_limit: str = Field("2.5GB", pattern=r"^\d+(\.\d+)?\s*([KMGT]i?B|B)$")
    # None: one per core of this machine.
    threads: int | None = Field(None, ge=1, le=256)
    # None: `<warehouse>.tmp` beside the warehouse file; a relative path is from the warehouse's folder.
    temp_directory: str | None = None
    # The signal marts are rebuilt in parts of whole accounts of at most this many account-days:
    # their windows hold a part in memory (about 1.2 GB per million account-days) and cannot spill.
    signals_part_account_days: int = Field(1_000_000, ge=1_000)


class ProductConfig(_Strict):
    """What counts as a core feature in `feature_used` events."""

    core_features: list[str] = Field(
        default_factory=lambda: ["reports", "dashboards", "workflows", "integrations"]
    )


class DeliveryConfig(_Strict):
    """Mail settings; the SendGrid key and host come from the environment, never from this file."""

    from_email: str = Field("healthwatch@example.com", pattern=r"^[^@\s]+@[^@\s]+$")


class HealthwatchConfig(_Strict):
    """The whole of `healthwatch.yml`."""

    churn: ChurnConfig = ChurnConfig()
    demo: DemoConfig = DemoConfig()
    simulation: SimulationConfig = SimulationConfig()
    calendar: CalendarConfig = CalendarConfig()
    model: ModelConfig = ModelConfig()
    product: ProductConfig = ProductConfig()
    warehouse: WarehouseConfig = WarehouseConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    alert_rules_file: str = "alert_rules.yml"


@dataclass(frozen=True)
class Settings:
    """Resolved settings: the validated config and every path the pipeline reads or writes."""

    config: HealthwatchConfig
    config_path: Path
    warehouse: Path
    dagster_home: Path

    @property
    def data_dir(self) -> Path:
        """Everything generated lives beside the warehouse file."""
        return self.warehouse.parent

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    @property
    def duckdb_settings(self) -> dict[str, str]:
        """The DuckDB settings (`SET name = value`) every warehouse connection and dbt get."""
        return duckdb_settings(self.config.warehouse, self.warehouse)

    @property
    def alert_rules_path(self) -> Path:
        path = Path(self.config.alert_rules_file)
        return path if path.is_absolute() else self.config_path.parent / path


DUCKDB_ENV = {
    "memory_limit": "HEALTHWATCH_DUCKDB_MEMORY_LIMIT",
    "threads": "HEALTHWATCH_DUCKDB_THREADS",
    "temp_directory": "HEALTHWATCH_DUCKDB_TEMP_DIRECTORY",
}


def duckdb_settings(config: WarehouseConfig, warehouse: Path) -> dict[str, str]:
    """memory_limit, threads and temp_directory for a warehouse file, from resolved config."""
    temp = Path(config.temp_directory) if config.temp_directory else Path(f"{warehouse}.tmp")
    return {
        "memory_limit": config.memory_limit.replace(" ", ""),
        "threads": str(config.threads or cores()),
        "temp_directory": str(temp if temp.is_absolute() else (warehouse.parent / temp).resolve()),
    }


def _with_duckdb_env(config: HealthwatchConfig, env: Mapping[str, str]) -> HealthwatchConfig:
    """HEALTHWATCH_DUCKDB_* variables override the `warehouse:` section (validated the same way)."""
    overrides = {key: env[name] for key, name in DUCKDB_ENV.items() if env.get(name)}
    if not overrides:
        return config
    try:
        merged = WarehouseConfig.model_validate({**config.warehouse.model_dump(), **overrides})
    except ValueError as exc:
        names = ", ".join(DUCKDB_ENV[key] for key in overrides)
        raise HealthwatchError(
            f"bad DuckDB setting in the environment ({names}): {exc}",
            "use e.g. HEALTHWATCH_DUCKDB_MEMORY_LIMIT=2.5GB, HEALTHWATCH_DUCKDB_THREADS=2",
        ) from exc
    return config.model_copy(update={"warehouse": merged})


def load_config(
    env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> tuple[Path, HealthwatchConfig]:
    """The config file HEALTHWATCH_CONFIG names (default healthwatch.yml), validated, with the
    HEALTHWATCH_DUCKDB_* overrides applied; the documented defaults when there is no file."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    config_path = (cwd / env.get("HEALTHWATCH_CONFIG", DEFAULT_CONFIG)).resolve()
    if "HEALTHWATCH_CONFIG" not in env and not config_path.is_file():
        # No file and none asked for: the documented defaults apply.
        config = HealthwatchConfig()
    else:
        config = load_yaml_model(config_path, HealthwatchConfig)
    return config_path, _with_duckdb_env(config, env)


def load_settings(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
    """Read HEALTHWATCH_CONFIG, HEALTHWATCH_WAREHOUSE and DAGSTER_HOME (relative paths are from `cwd`).

    Without DAGSTER_HOME, the Dagster instance lives beside the warehouse (`data/dagster_home`).
    """
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    config_path, config = load_config(env, cwd)
    warehouse = (cwd / env.get("HEALTHWATCH_WAREHOUSE", DEFAULT_WAREHOUSE)).resolve()
    if warehouse.suffix != ".duckdb":
        raise HealthwatchError(
            f"HEALTHWATCH_WAREHOUSE must name a .duckdb file, got {warehouse}",
            "set it to a path like data/warehouse.duckdb",
        )
    dagster_home = (
        (cwd / env["DAGSTER_HOME"]).resolve()
        if env.get("DAGSTER_HOME")
        else warehouse.parent / "dagster_home"
    )
    return Settings(config=config, config_path=config_path, warehouse=warehouse, dagster_home=dagster_home)
