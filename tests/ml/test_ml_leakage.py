"""Leakage: a feature fed data after its snapshot date differs from its rebuild on data cut at that date."""

import numpy as np
import pandas as pd
import pytest

from ml.leakage import cut_at, leaked_columns, point_in_time_check

START = pd.Timestamp("2025-01-06")
DATES = [START + pd.Timedelta(weeks=w) for w in range(2, 14)]


def _sources() -> dict[str, pd.DataFrame]:
    """Twenty accounts, a login log over 100 days (none after an account's churn), churn dates for half."""
    rng = np.random.default_rng(4)
    ids = [f"acc_{i:02d}" for i in range(20)]
    churned_at = [
        START + pd.Timedelta(days=int(rng.integers(30, 95)), hours=10) if i % 2 else pd.NaT for i in range(20)
    ]
    accounts = pd.DataFrame({"account_id": ids, "churned_at": pd.to_datetime(churned_at)})
    logins = pd.DataFrame(
        {
            "account_id": rng.choice(ids, 3000),
            "login_at": START + pd.to_timedelta(rng.uniform(0, 100 * 86400, 3000), unit="s"),
        }
    )
    logins = logins.merge(accounts, on="account_id")
    logins = logins.loc[logins["churned_at"].isna() | (logins["login_at"] < logins["churned_at"])]
    return {"accounts": accounts, "logins": logins.drop(columns="churned_at").reset_index(drop=True)}


def _build(sources: dict[str, pd.DataFrame], dates) -> pd.DataFrame:
    """Two honest features, two that read the future, per account and date (end of day d)."""
    accounts, logins = sources["accounts"], sources["logins"]
    rows = []
    for d in dates:
        end = d + pd.Timedelta(days=1)
        for account, churned_at in zip(accounts["account_id"], accounts["churned_at"], strict=True):
            mine = logins.loc[logins["account_id"] == account, "login_at"]
            past = mine[mine < end]
            rows.append(
                {
                    "account_id": account,
                    "snapshot_date": d,
                    # honest: only what happened by the end of d
                    "logins_7d": int((past >= end - pd.Timedelta(days=7)).sum()),
                    "days_since_last_login": (d - past.max().normalize()).days if len(past) else np.nan,
                    "churned_by_d": bool(pd.notna(churned_at) and churned_at < end),
                    # leaky: the next week's logins, and the days until a churn that has not happened yet
                    "logins_next_7d": int(((mine >= end) & (mine < end + pd.Timedelta(days=7))).sum()),
                    "days_until_churn": (churned_at.normalize() - d).days if pd.notna(churned_at) else np.nan,
                }
            )
    return pd.DataFrame(rows)


def test_a_feature_computed_from_future_data_is_flagged_and_honest_ones_are_not():
    report = point_in_time_check(
        _build,
        _sources(),
        DATES,
        time_columns={"logins": "login_at"},
        dated_attributes={"accounts": ["churned_at"]},
    )
    assert report.columns == ["logins_next_7d", "days_until_churn"]
    assert not report.clean
    assert report.compared_rows == 20 * len(DATES)
    assert report.only_stored == report.only_rebuilt == 0
    assert 0 < report.differing_rows["days_until_churn"] < report.compared_rows
    assert "logins_next_7d differs on" in report.describe()
    example = report.examples["days_until_churn"][0]
    assert np.isnan(example["cut"]) and example["stored"] > 0  # the churn was not known at d


def test_honest_features_alone_are_clean():
    report = point_in_time_check(
        _build,
        _sources(),
        DATES,
        time_columns={"logins": "login_at"},
        dated_attributes={"accounts": ["churned_at"]},
        columns=["logins_7d", "days_since_last_login", "churned_by_d"],
    )
    assert report.clean, report.describe()
    assert report.describe().startswith("no leakage")


def test_cut_at_drops_later_facts_and_blanks_later_attributes():
    sources = _sources()
    d = DATES[3]
    cut = cut_at(sources, d, {"logins": "login_at"}, {"accounts": ["churned_at"]})
    assert (cut["logins"]["login_at"] < d + pd.Timedelta(days=1)).all()
    assert len(cut["logins"]) < len(sources["logins"])
    assert len(cut["accounts"]) == len(sources["accounts"])
    known = cut["accounts"]["churned_at"].dropna()
    assert (known < d + pd.Timedelta(days=1)).all()
    assert sources["accounts"]["churned_at"].notna().sum() > len(known)


def test_leaked_columns_compares_values_keys_and_missing_values():
    stored = pd.DataFrame(
        {
            "account_id": ["a", "a", "b"],
            "snapshot_date": pd.to_datetime(["2025-01-06", "2025-01-13", "2025-01-06"]),
            "same": [1.0, np.nan, 3.0],
            "tiny_float_noise": [0.1 + 0.2, 1.0, 2.0],
            "changed": [1.0, 2.0, 3.0],
            "label_text": ["x", "y", None],
        }
    )
    cut = stored.assign(
        tiny_float_noise=[0.3, 1.0, 2.0], changed=[1.0, 2.5, 3.0], label_text=["x", "z", None]
    ).iloc[::-1]  # row order does not matter
    cut = pd.concat(
        [cut, pd.DataFrame({"account_id": ["c"], "snapshot_date": pd.to_datetime(["2025-01-06"])})]
    )
    report = leaked_columns(stored, cut)
    assert report.columns == ["changed", "label_text"]
    assert report.differing_rows == {"changed": 1, "label_text": 1}
    assert report.only_rebuilt == 1 and report.only_stored == 0
    assert report.compared_rows == 3
    # a value known only in one of the two is a difference too
    assert leaked_columns(stored, stored.assign(same=[1.0, 2.0, 3.0])).columns == ["same"]
    with pytest.raises(ValueError, match="one row per"):
        leaked_columns(pd.concat([stored, stored]), stored)
    with pytest.raises(ValueError, match="missing"):
        leaked_columns(stored, cut, columns=["nope"])


def test_the_stored_snapshots_of_the_synthetic_world_show_an_injected_leak(world):
    """On the mart-shaped frame: only the column that was given later data is named."""
    stored = world.features
    cut = stored.copy()
    later = pd.to_datetime(cut["snapshot_date"]) >= pd.Timestamp("2025-06-02")
    cut.loc[later, "payment_failures_30d"] = cut.loc[later, "payment_failures_30d"] + 1
    report = leaked_columns(stored, cut)
    assert report.columns == ["payment_failures_30d"]
    assert report.differing_rows["payment_failures_30d"] == int(later.sum())
