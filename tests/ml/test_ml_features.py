"""Features and labels: column lists, typing, the label window, censoring, point-in-time reads."""

from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from healthwatch.errors import HealthwatchError
from ml.features import (
    CATEGORICAL_COLUMNS,
    FEATURE_COLUMNS,
    MODEL_COLUMNS,
    build_training_set,
    latest_snapshots,
    load_snapshots,
    model_matrix,
)


def test_feature_lists():
    # The model reads exactly the feature columns the dbt contract of account_features declares.
    contract = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "dbt_project/models/marts/signals/_signals.yml").read_text()
    )
    (features,) = [m for m in contract["models"] if m["name"] == "account_features"]
    declared = [c["name"] for c in features["columns"] if c["name"] not in ("account_id", "snapshot_date")]
    assert sorted(declared) == sorted(MODEL_COLUMNS)
    assert "segment" not in FEATURE_COLUMNS
    assert CATEGORICAL_COLUMNS == ["segment"]
    assert MODEL_COLUMNS[:-1] == FEATURE_COLUMNS
    assert MODEL_COLUMNS[-1] == "segment"


def test_load_snapshots_types(con, world):
    snapshots = load_snapshots(con)
    assert len(snapshots) == len(world.features)
    assert all(snapshots[c].dtype == "float64" for c in FEATURE_COLUMNS)
    assert list(snapshots["segment"].cat.categories) == ["enterprise", "mid_market", "smb"]
    assert snapshots["ticket_sentiment_avg_28d"].isna().any()  # nulls arrive as NaN


def test_missing_columns_name_the_columns(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create schema signals")
        con.execute(
            "create table signals.account_features (account_id varchar, snapshot_date date, arr double)"
        )
        with pytest.raises(HealthwatchError, match="logins_7d"):
            load_snapshots(con)


def _frame(rows):
    snapshots = pd.DataFrame(rows, columns=["account_id", "snapshot_date"])
    snapshots["snapshot_date"] = pd.to_datetime(snapshots["snapshot_date"])
    for column in FEATURE_COLUMNS:
        snapshots[column] = 1.0
    snapshots["segment"] = "smb"
    return snapshots


def test_label_window_is_open_closed_and_from_churned_at_only():
    d = "2025-01-06"
    snapshots = _frame([(a, d) for a in ["edge", "after", "same_day", "never", "unknown"]])
    accounts = pd.DataFrame(
        {
            "account_id": ["edge", "after", "same_day", "never"],
            "churned_at": pd.to_datetime(["2025-04-06 23:00", "2025-04-07 01:00", "2025-01-06 12:00", None]),
        }
    )
    labelled = build_training_set(snapshots, accounts, 90, datetime(2025, 12, 1)).set_index("account_id")
    assert labelled.loc["edge", "label"] == 1  # churn on d + 90: inside (d, d+H]
    assert labelled.loc["after", "label"] == 0  # d + 91: outside
    assert "same_day" not in labelled.index  # churned on the snapshot date: not a live account
    assert labelled.loc["never", "label"] == 0
    assert labelled.loc["unknown", "label"] == 0  # not in accounts: never churned


def test_censoring_drops_snapshots_whose_horizon_is_not_over():
    snapshots = _frame([("a", "2025-01-06"), ("a", "2025-03-03"), ("a", "2025-03-10")])
    accounts = pd.DataFrame({"account_id": ["a"], "churned_at": pd.to_datetime([None])})
    clock = datetime(2025, 6, 1, 9)  # 2025-03-03 + 90 days = 2025-06-01
    labelled = build_training_set(snapshots, accounts, 90, clock)
    assert list(labelled["snapshot_date"].dt.strftime("%Y-%m-%d")) == ["2025-01-06", "2025-03-03"]


def test_churn_after_the_clock_is_not_a_label():
    snapshots = _frame([("a", "2025-03-03")])
    accounts = pd.DataFrame({"account_id": ["a"], "churned_at": pd.to_datetime(["2025-06-01 15:00"])})
    labelled = build_training_set(snapshots, accounts, 90, datetime(2025, 6, 1, 9))
    assert labelled["label"].tolist() == [0]  # the churn happens after "now", so nobody knows it yet


def test_training_set_on_world_is_censored_and_keeps_mart_features(training_set, world, con):
    clock_date = pd.Timestamp(world.clock).normalize()
    assert (training_set["snapshot_date"] + pd.Timedelta(days=90) <= clock_date).all()
    assert (pd.to_datetime(world.features["snapshot_date"]) + pd.Timedelta(days=90) > clock_date).any()
    assert 0 < training_set["label"].mean() < 0.5
    # point in time: every feature value is the mart's value for that (account, date)
    snapshots = load_snapshots(con).set_index(["account_id", "snapshot_date"])
    keyed = training_set.set_index(["account_id", "snapshot_date"])
    pd.testing.assert_frame_equal(keyed[FEATURE_COLUMNS], snapshots.loc[keyed.index, FEATURE_COLUMNS])
    # labels agree with churned_at
    churned = (
        world.accounts.set_index("account_id")["churned_at"].reindex(training_set["account_id"]).to_numpy()
    )
    days = (pd.to_datetime(churned).normalize() - training_set["snapshot_date"].to_numpy()).days
    expected = ((days > 0) & (days <= 90)).astype(int)
    assert np.array_equal(training_set["label"].to_numpy(), expected)


def test_latest_snapshots_point_in_time(con, world):
    live = world.accounts.loc[~world.accounts["is_churned"], "account_id"].iloc[0]
    # a row dated after the clock must not be used
    con.execute(
        "insert into signals.account_features select * replace (date '2030-01-01' as snapshot_date) "
        "from signals.account_features where account_id = ? limit 1",
        [live],
    )
    latest = latest_snapshots(con, world.clock)
    churned = set(world.accounts.loc[world.accounts["is_churned"], "account_id"])
    assert latest["account_id"].is_unique
    assert not churned & set(latest["account_id"])
    assert (latest["snapshot_date"] == pd.Timestamp(world.clock.date())).all()
    subset = latest_snapshots(con, world.clock, [live, "nope"])
    assert subset["account_id"].tolist() == [live]
    earlier = latest_snapshots(con, datetime(2025, 3, 5), [live])
    assert earlier["snapshot_date"].tolist() == [pd.Timestamp("2025-03-03")]


def test_model_matrix_fixes_categories():
    frame = pd.DataFrame({c: [1.0, np.nan] for c in FEATURE_COLUMNS} | {"segment": ["smb", "startup"]})
    x = model_matrix(frame)
    assert list(x.columns) == MODEL_COLUMNS
    assert list(x["segment"].cat.categories) == ["enterprise", "mid_market", "smb"]
    assert x["segment"].isna().tolist() == [False, True]  # unknown segment -> missing, not a new code
