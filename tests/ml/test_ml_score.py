"""Scoring: probabilities, classes and scores consistent with the model; idempotent writes; drivers."""

import json
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pandas as pd

from ml import registry
from ml.explain import CONTEXT_FEATURES, MIN_CONTRIBUTION, TEMPLATES, explain, sentence
from ml.features import MODEL_COLUMNS, latest_snapshots
from ml.pipeline import score_current
from ml.score import HISTORY_TABLE, SCORES_TABLE, score_accounts


def _scores(con, table=SCORES_TABLE):
    return con.execute(f"select * from {table} order by account_id").df()


def test_scores_are_consistent_with_the_model(con, run, world):
    written = score_accounts(con, run.model, world.clock)
    stored = _scores(con)
    assert len(stored) == len(written) == len(latest_snapshots(con, world.clock))
    p = stored["churn_probability"].to_numpy()
    assert ((p >= 0) & (p <= 1)).all()
    assert (stored["health_class"].to_numpy() == run.model.thresholds.classify(p)).all()
    assert stored["health_score"].tolist() == [round(100 * (1 - x)) for x in p]
    assert (stored["scored_at"] == pd.Timestamp(world.clock)).all()
    assert (stored["as_of_date"] == pd.Timestamp(world.clock.date())).all()
    assert (stored["model_version"] == run.model.version).all()
    assert stored["previous_health_class"].isna().all()
    assert set(stored["health_class"]) <= {"Healthy", "At-Risk", "Critical"}


def test_table_ddl(con, run, world):
    score_accounts(con, run.model, world.clock, account_ids=[])
    score_accounts(con, run.model, world.clock, account_ids=["acc_0000"])
    for table in (SCORES_TABLE, HISTORY_TABLE):
        schema, name = table.split(".")
        columns = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, name],
            ).fetchall()
        )
        assert columns == {
            "account_id": "VARCHAR",
            "scored_at": "TIMESTAMP",
            "as_of_date": "DATE",
            "model_version": "VARCHAR",
            "churn_probability": "DOUBLE",
            "health_score": "INTEGER",
            "health_class": "VARCHAR",
            "previous_health_class": "VARCHAR",
            "drivers": "JSON",
        }


def test_scoring_twice_keeps_one_row_per_account_and_no_duplicate_history(con, run, world):
    first = score_accounts(con, run.model, world.clock)
    score_accounts(con, run.model, world.clock)
    assert len(_scores(con)) == len(first)
    history = _scores(con, HISTORY_TABLE)
    assert len(history) == len(first)
    assert not history.duplicated(["account_id", "scored_at", "model_version"]).any()


def test_partial_rescoring_upserts_only_the_named_accounts(con, run, world):
    all_rows = score_accounts(con, run.model, world.clock).set_index("account_id")
    named = list(all_rows.index[:3])
    later = world.clock + timedelta(hours=6)
    for _ in range(2):  # a replayed run gives the same rows
        score_accounts(con, run.model, later, account_ids=named)
    stored = _scores(con).set_index("account_id")
    assert len(stored) == len(all_rows)
    assert (stored.loc[named, "scored_at"] == pd.Timestamp(later)).all()
    assert (stored.drop(index=named)["scored_at"] == pd.Timestamp(world.clock)).all()
    assert stored.loc[named, "previous_health_class"].tolist() == all_rows.loc[named, "health_class"].tolist()
    history = _scores(con, HISTORY_TABLE)
    assert len(history) == len(all_rows) + len(named)
    assert history.groupby("account_id").size().loc[named].eq(2).all()


def test_drivers_are_at_most_three_readable_risk_ups_per_account(con, run, world):
    stored = score_accounts(con, run.model, world.clock)
    shown = 0
    for raw, health_class in zip(stored["drivers"], stored["health_class"], strict=True):
        drivers = json.loads(raw)
        assert len(drivers) <= 3
        shown += len(drivers)
        if health_class != "Healthy":
            assert drivers, "an account at risk always says why"
        assert all(d["sentence"] and d["contribution"] >= MIN_CONTRIBUTION for d in drivers)
        assert not {d["feature"] for d in drivers} & CONTEXT_FEATURES
        assert [d["contribution"] for d in drivers] == sorted(
            (d["contribution"] for d in drivers), reverse=True
        )
        assert all(set(d) == {"feature", "value", "contribution", "sentence"} for d in drivers)
    assert shown > 0


def test_drivers_point_the_right_way(con, run, world):
    stored = score_accounts(con, run.model, world.clock).set_index("account_id")
    latest = latest_snapshots(con, world.clock).set_index("account_id")
    dropped = [
        a for a in world.future_churners if a in latest.index and latest.loc[a, "logins_7d_change"] <= -0.3
    ]
    assert dropped, "the synthetic world should have drifting future churners"
    for account in dropped:
        assert stored.loc[account, "health_class"] != "Healthy"
        features = [d["feature"] for d in json.loads(stored.loc[account, "drivers"])]
        assert any("login" in f for f in features), (account, features)
    # a change-vs-normal driver that raises risk on a Critical account is a fall, not a rise
    critical = stored.loc[stored["health_class"] == "Critical", "drivers"]
    for raw in critical:
        for d in json.loads(raw):
            if d["feature"].endswith("_change") and d["value"] is not None and d["contribution"] > 0.2:
                assert d["value"] < 0, d


def test_shap_contributions_add_up_to_the_margin(run):
    x = run.model.matrix(run.holdout.head(20))
    contributions = run.model.contributions(x)
    assert np.allclose(contributions.sum(axis=1), run.model.margin(x))
    drivers = explain(run.model, run.holdout.head(20))
    assert len(drivers) == 20


def test_prediction_threads_change_only_the_speed(run):
    # Scoring predicts with `model.predict_threads` (one per core), training with `num_threads`.
    frame = run.holdout.head(500)
    one, two = (replace(run.model, num_threads=n) for n in (1, 2))
    assert (one.num_threads, two.num_threads) == (1, 2)
    assert np.array_equal(one.contributions(one.matrix(frame)), two.contributions(two.matrix(frame)))
    assert np.array_equal(one.predict_proba(frame), two.predict_proba(frame))
    assert explain(one, frame) == explain(two, frame)


def test_every_model_column_has_a_sentence_template():
    assert set(TEMPLATES) == set(MODEL_COLUMNS)


def test_sentences_a_csm_understands():
    assert sentence("logins_7d_change", -0.42, {}) == "logins down 42% vs 4-week normal"
    assert sentence("tickets_7d", 3.0, {}) == "3 tickets in the last 7 days"
    assert sentence("nps_change", -4.0, {"nps_score_last": 3.0}) == "NPS fell 4 points to 3"
    assert sentence("payment_failures_30d", 2.0, {}) == "payment failed 2 times in 30 days"
    assert sentence("payment_failures_30d", 1.0, {}) == "payment failed once in 30 days"
    assert sentence("days_to_renewal", 37.0, {}) == "renewal in 37 days"
    assert sentence("champion_active_days_14d", 0.0, {}) == "champion inactive for 14 days"
    assert sentence("seat_utilisation", 0.35, {}) == "35% of seats used in the last 7 days"
    assert sentence("segment", "mid_market", {}) == "mid-market segment"
    assert sentence("nps_score_last", float("nan"), {}) == "no data on NPS"


def test_score_current_trains_first_when_nothing_is_promoted(con, settings, world):
    result = score_current(con, settings)  # clock from the change tables
    assert result.trained is not None and result.trained.promoted
    assert "trained and promoted" in result.note
    assert result.model_version == registry.current_version(settings.models_dir)
    assert result.accounts_scored == len(_scores(con))
    assert sum(result.by_class.values()) == result.accounts_scored
    assert (_scores(con)["scored_at"] == pd.Timestamp(world.clock)).all()

    again = score_current(con, settings, account_ids=["acc_0002"])
    assert again.trained is None and again.note == ""
    assert again.model_version == result.model_version


def test_a_scoring_at_an_earlier_clock_goes_to_the_history_only(con, run, world):
    """The current row stays the latest scoring; the earlier one's previous class comes from the
    history (the one path that reads it), and a later scoring still takes the current row's class."""
    first = score_accounts(con, run.model, world.clock).set_index("account_id")
    named = list(first.index[:4])
    earlier = world.clock - timedelta(days=2)
    back = score_accounts(con, run.model, earlier, account_ids=named).set_index("account_id")
    assert back["previous_health_class"].isna().all()  # nothing was scored before it
    stored = _scores(con).set_index("account_id")
    assert (stored.loc[named, "scored_at"] == pd.Timestamp(world.clock)).all()
    assert stored.loc[named, "previous_health_class"].isna().all()
    history = _scores(con, HISTORY_TABLE)
    assert len(history) == len(first) + len(named)

    # a scoring between the two: its previous class is the earlier one's, from the history
    between = world.clock - timedelta(days=1)
    mid = score_accounts(con, run.model, between, account_ids=named).set_index("account_id")
    assert mid.loc[named, "previous_health_class"].tolist() == back.loc[named, "health_class"].tolist()
    # and the next live scoring reads the current row
    later = score_accounts(con, run.model, world.clock + timedelta(hours=3), account_ids=named)
    assert later.set_index("account_id").loc[named, "previous_health_class"].tolist() == (
        first.loc[named, "health_class"].tolist()
    )


def test_a_history_table_with_a_primary_key_is_rebuilt_without_it(con, run, world):
    """Warehouses scored by an earlier version have a keyed history (its index held every scoring
    in memory): it is copied once into an unkeyed table, rows kept, and re-runs stay unique."""
    con.execute("create schema if not exists scoring")
    con.execute(
        f"create table {HISTORY_TABLE} (account_id varchar not null, scored_at timestamp not null, "
        "as_of_date date not null, model_version varchar not null, churn_probability double not null, "
        "health_score integer not null, health_class varchar not null, previous_health_class varchar, "
        "drivers json not null, primary key (account_id, scored_at, model_version))"
    )
    con.execute(
        f"insert into {HISTORY_TABLE} values ('acc_0000', ?, ?, 'old', 0.9, 10, 'Critical', null, '[]')",
        [world.clock - timedelta(days=7), (world.clock - timedelta(days=7)).date()],
    )
    score_accounts(con, run.model, world.clock)
    score_accounts(con, run.model, world.clock)
    keys = con.execute(
        "select count(*) from duckdb_constraints() where schema_name = 'scoring' "
        "and table_name = 'account_health_score_history' and constraint_type = 'PRIMARY KEY'"
    ).fetchall()
    assert keys == [(0,)]
    history = _scores(con, HISTORY_TABLE)
    assert len(history) == len(_scores(con)) + 1
    assert not history.duplicated(["account_id", "scored_at", "model_version"]).any()
    assert (history["model_version"] == "old").sum() == 1
    # the first current row of acc_0000 found its previous class in the migrated history
    assert _scores(con).set_index("account_id").loc["acc_0000", "previous_health_class"] == "Critical"
