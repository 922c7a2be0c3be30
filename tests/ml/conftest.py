"""A synthetic `signals.account_features` + `signals.accounts` warehouse for the ml tests.

Weekly snapshots (every Monday plus the clock's date) for a few hundred accounts. Churners drift
over the 120 days before they churn (logins and usage fall, tickets and payment failures rise,
the champion goes quiet), and a few healthy accounts have passing scares, so the model has
something to learn and something to get wrong. Churners whose churn date is after the clock are
"future churners": not churned in `signals.accounts`, but already drifting at the clock.
"""

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace

import duckdb
import numpy as np
import pandas as pd
import pytest

from healthwatch.config import ChurnConfig, HealthwatchConfig, ModelConfig, Settings, load_settings
from healthwatch.warehouse import ensure_change_tables
from ml.features import build_training_set, load_accounts, load_snapshots
from ml.train import train_model

START = date(2025, 1, 6)  # a Monday
SEGMENTS = ["enterprise", "mid_market", "smb"]


@dataclass(frozen=True)
class World:
    features: pd.DataFrame
    accounts: pd.DataFrame
    clock: datetime
    future_churners: list[str]


def make_world(n_accounts: int = 300, weeks: int = 40, churn_share: float = 0.35, seed: int = 0) -> World:
    rng = np.random.default_rng(seed)
    mondays = [START + timedelta(weeks=i) for i in range(weeks)]
    clock = datetime.combine(mondays[-1] + timedelta(days=3), time(10, 0))
    snapshot_dates = pd.to_datetime([*mondays, clock.date()])
    total_days = (clock.date() - START).days

    ids = np.array([f"acc_{i:04d}" for i in range(n_accounts)])
    segment = rng.choice(SEGMENTS, n_accounts, p=[0.2, 0.35, 0.45])
    seats = np.select(
        [segment == "enterprise", segment == "mid_market"],
        [rng.integers(100, 400, n_accounts), rng.integers(20, 100, n_accounts)],
        rng.integers(3, 20, n_accounts),
    )
    arr = np.round(seats * rng.uniform(600, 1400, n_accounts), -2)
    created = pd.Timestamp(START) - pd.to_timedelta(rng.integers(30, 1200, n_accounts), unit="D")
    renewal_cycle_day = rng.integers(0, 365, n_accounts)
    is_churner = rng.random(n_accounts) < churn_share
    churn_date = pd.Timestamp(START) + pd.to_timedelta(
        rng.integers(30, total_days + 60, n_accounts), unit="D"
    )
    churn_date = pd.Series(churn_date).where(is_churner)
    churned_at = churn_date + pd.to_timedelta(rng.integers(8, 18, n_accounts), unit="h")
    known = churned_at <= pd.Timestamp(clock)
    accounts = pd.DataFrame(
        {
            "account_id": ids,
            "name": [f"Account {i}" for i in range(n_accounts)],
            "segment": segment,
            "arr": arr,
            "csm_id": [f"csm_{i % 7}" for i in range(n_accounts)],
            "churned_at": churned_at.where(known),
            "is_churned": known.to_numpy(),
        }
    )
    future_churners = list(ids[is_churner & ~known.to_numpy()])

    grid = pd.DataFrame(
        {
            "account": np.repeat(np.arange(n_accounts), len(snapshot_dates)),
            "snapshot_date": np.tile(snapshot_dates, n_accounts),
        }
    )
    grid["churn_date"] = churn_date.to_numpy()[grid["account"]]
    grid = grid.loc[grid["churn_date"].isna() | (grid["snapshot_date"] < grid["churn_date"])].reset_index(
        drop=True
    )
    n = len(grid)
    a = grid["account"].to_numpy()
    days_to_churn = (grid["churn_date"] - grid["snapshot_date"]).dt.days.to_numpy(dtype="float64")
    drift = np.nan_to_num(np.clip(1 - days_to_churn / 120, 0, 1))
    scare = np.where(rng.random(n) < 0.06, rng.uniform(0.2, 0.6, n), 0.0)
    r = np.maximum(drift, scare)

    def noise(scale: float) -> np.ndarray:
        return rng.normal(0, scale, n)

    logins_change = -0.7 * r + noise(0.15)
    base_logins = seats[a] * 4.0
    tickets_7d = rng.poisson(0.4 + 2.5 * r)
    tickets_28d = tickets_7d + rng.poisson(1.2 + 5 * r)
    nps_last = np.clip(np.round(8.5 - 5 * r + noise(1)), 0, 10)
    nps_missing = rng.random(n) < 0.3
    days_in_cycle = (grid["snapshot_date"] - pd.Timestamp(START)).dt.days.to_numpy()
    features = pd.DataFrame(
        {
            "account_id": ids[a],
            "snapshot_date": grid["snapshot_date"].dt.date,
            "logins_7d": np.round(base_logins * np.clip(1 + logins_change, 0, None)),
            "logins_wow_change": -0.3 * r + noise(0.2),
            "logins_7d_change": logins_change,
            "logins_7d_robust_z": 4 * logins_change + noise(0.5),
            "active_users_7d": np.round(seats[a] * np.clip(0.7 - 0.4 * r + noise(0.1), 0, 1)),
            "active_users_7d_change": -0.5 * r + noise(0.15),
            "seat_utilisation": np.clip(0.7 - 0.4 * r + noise(0.1), 0, 1.2),
            "logins_per_seat_28d": np.clip(16 * (1 - 0.5 * r) + noise(2), 0, None),
            "logins_28d_vs_prior_62d": -0.5 * r + noise(0.15),
            "session_minutes_28d_vs_prior_62d": -0.4 * r + noise(0.2),
            "core_feature_uses_28d_vs_prior_62d": -0.5 * r + noise(0.2),
            "team_active_users_28d_vs_prior_62d": -0.4 * r + noise(0.15),
            "core_feature_uses_7d_change": -0.6 * r + noise(0.2),
            "core_features_used_28d": np.clip(np.round(4 - 3 * r + noise(0.5)), 0, 4),
            "core_features_abandoned_28d": rng.binomial(2, 0.05 + 0.5 * r),
            "session_minutes_7d_change": -0.4 * r + noise(0.2),
            "days_since_last_login": rng.poisson(0.5 + 12 * r),
            "api_error_rate_7d": np.clip(0.01 + 0.02 * r + noise(0.005), 0, 1),
            "api_latency_p95_ms_7d": np.clip(300 + 200 * r + noise(60), 50, None),
            "champion_active_days_14d": rng.binomial(14, 0.75 * (1 - 0.9 * r)),
            "sponsor_active_days_28d": rng.binomial(28, 0.3 * (1 - 0.8 * r)),
            "tickets_7d": tickets_7d,
            "tickets_28d": tickets_28d,
            "tickets_escalated_28d": rng.binomial(tickets_28d, 0.1 + 0.3 * r),
            "tickets_negative_28d": rng.binomial(tickets_28d, 0.15 + 0.4 * r),
            "tickets_repeat_28d": rng.binomial(tickets_28d, 0.05 + 0.3 * r),
            "ticket_sentiment_avg_28d": np.where(
                tickets_28d > 0, np.clip(0.2 - 0.6 * r + noise(0.15), -1, 1), np.nan
            ),
            "nps_score_last": np.where(nps_missing, np.nan, nps_last),
            "nps_change": np.where(nps_missing, np.nan, np.round(-4 * r + noise(1))),
            "survey_response_rate_90d": np.clip(0.6 - 0.4 * r + noise(0.1), 0, 1),
            "payment_failures_30d": rng.poisson(0.03 + 1.0 * r),
            "cancellation_requests_90d": rng.binomial(1, 0.5 * r**2),
            "procurement_freezes_90d": rng.binomial(1, 0.02 + 0.2 * r),
            "budget_owner_changes_90d": rng.binomial(1, 0.03 + 0.2 * r),
            "champion_departures_90d": rng.binomial(1, 0.03 + 0.3 * r),
            "days_to_renewal": (renewal_cycle_day[a] - days_in_cycle) % 365,
            "arr": arr[a],
            "seats_purchased": seats[a],
            "tenure_days": (grid["snapshot_date"] - created[a]).dt.days.to_numpy(),
            "segment": segment[a],
        }
    )
    return World(features=features, accounts=accounts, clock=clock, future_churners=future_churners)


def write_world(path: Path, world: World) -> None:
    """Create the two signal tables and a change row whose source_ts is the clock (data_clock)."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists signals")
        con.register("_features", world.features)
        con.register("_accounts", world.accounts)
        con.execute(
            "create or replace table signals.account_features as "
            "select * replace (cast(snapshot_date as date) as snapshot_date) from _features"
        )
        con.execute(
            "create or replace table signals.accounts as "
            "select * replace (cast(churned_at as timestamp) as churned_at) from _accounts"
        )
        ensure_change_tables(con)
        con.execute(
            "insert into cdc.crm_changes values (1, 'accounts', 'r', 'acc_0000', null, '{}', ?, ?)",
            [world.clock, world.clock],
        )


def make_settings(tmp_path: Path, horizon_days: int = 90, **model: int) -> Settings:
    """Settings as `load_settings` resolves them in tmp_path, with the model config given."""
    settings = load_settings(env={"HEALTHWATCH_WAREHOUSE": "warehouse.duckdb"}, cwd=tmp_path)
    config = HealthwatchConfig(churn=ChurnConfig(horizon_days=horizon_days), model=ModelConfig(**model))
    return replace(settings, config=config)


@pytest.fixture(scope="session")
def synthetic() -> SimpleNamespace:
    """The world builders, for tests that need a world of their own (test modules cannot safely
    `import conftest`: other test folders have one too)."""
    return SimpleNamespace(make_world=make_world, write_world=write_world, make_settings=make_settings)


@pytest.fixture(scope="session")
def world() -> World:
    return make_world()


@pytest.fixture
def settings(tmp_path: Path, world: World) -> Settings:
    """Settings whose warehouse holds the synthetic world (models_dir is tmp_path/models)."""
    settings = make_settings(tmp_path)
    write_world(settings.warehouse, world)
    return settings


@pytest.fixture
def con(settings: Settings):
    with duckdb.connect(str(settings.warehouse)) as connection:
        yield connection


@pytest.fixture(scope="session")
def training_set(world: World, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("training") / "warehouse.duckdb"
    write_world(path, world)
    with duckdb.connect(str(path)) as connection:
        return build_training_set(load_snapshots(connection), load_accounts(connection), 90, world.clock)


@pytest.fixture(scope="session")
def run(training_set: pd.DataFrame, world: World):
    """One model trained on the synthetic world, shared by the tests that only read it."""
    return train_model(training_set, ModelConfig(), 90, world.clock)
