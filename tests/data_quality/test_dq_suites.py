"""Source-contract and signal suites: what they accept and what they name when they refuse."""

import pandas as pd

from data_quality.gx_runner import run_suite
from data_quality.suites import signals_suite, source_suite
from healthwatch.contract import source_table


def _failed(build, frame: pd.DataFrame) -> set[tuple[str, str | None]]:
    return {(f.expectation, f.column) for f in run_suite(build, frame)}


def _nps(**override) -> dict:
    row = {"response_id": "r1", "survey_id": "s1", "account_id": "a1", "contact_id": "c1", "score": 9,
           "comment": "great", "responded_at": pd.Timestamp("2026-01-05 10:00")}  # fmt: skip
    return row | override


def test_a_clean_source_table_passes() -> None:
    frame = pd.DataFrame([_nps(), _nps(response_id="r2", score=0)])
    assert _failed(lambda: source_suite(source_table("nps_responses")), frame) == set()


def test_source_violations_are_named() -> None:
    frame = pd.DataFrame([_nps(), _nps(score=11), _nps(response_id=None)])
    failed = _failed(lambda: source_suite(source_table("nps_responses")), frame)
    assert ("expect_column_values_to_be_between", "score") in failed
    assert ("expect_column_values_to_not_be_null", "response_id") in failed
    assert ("expect_column_values_to_be_unique", "response_id") in failed


def test_accepted_values_come_from_the_contract() -> None:
    row = {"account_id": "a1", "name": "Acme", "segment": "galactic", "arr": 10.0, "plan": "growth",
           "seats_purchased": 5, "csm_id": "m1", "created_at": pd.Timestamp("2024-01-01")}  # fmt: skip
    failed = _failed(lambda: source_suite(source_table("accounts")), pd.DataFrame([row]))
    assert failed == {("expect_column_values_to_be_in_set", "segment")}


def test_signal_rows_out_of_range_fail() -> None:
    base = {"account_id": "a1", "signal_date": pd.Timestamp("2026-01-05"), "api_error_rate_7d": 0.1,
            "survey_response_rate_90d": 0.5, "nps_score_last": 8}  # fmt: skip
    counts = dict.fromkeys(
        ["logins", "logins_7d", "active_users", "active_users_7d", "sessions", "core_feature_uses_7d",
         "api_calls_7d", "tickets_7d", "tickets_28d", "payment_failures_30d", "cancellation_requests_90d",
         "champion_departures_90d", "days_since_last_login"], 1)  # fmt: skip
    good = base | counts
    assert _failed(signals_suite, pd.DataFrame([good])) == set()
    bad = pd.DataFrame([good, good | {"signal_date": pd.Timestamp("2026-01-06"), "logins_7d": -1,
                                      "api_error_rate_7d": 1.5}])  # fmt: skip
    assert _failed(signals_suite, bad) == {
        ("expect_column_values_to_be_between", "logins_7d"),
        ("expect_column_values_to_be_between", "api_error_rate_7d"),
    }
    duplicate = pd.DataFrame([good, good])
    assert ("expect_compound_columns_to_be_unique", None) in _failed(signals_suite, duplicate)


def test_a_source_table_is_validated_in_parts_with_duplicates_and_null_keys_caught(
    tmp_path, monkeypatch
) -> None:
    import duckdb

    from data_quality import suites

    table = source_table("nps_responses")
    rows = [_nps(response_id=f"r{i}") for i in range(7)]
    rows[5]["score"] = 11
    rows += [_nps(response_id="r3", score=4), _nps(response_id=None)]  # a duplicate key, a null key
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema staging")
    con.register("nps_rows", pd.DataFrame(rows))
    con.execute(f"create table staging.stg_{table.system}__{table.name} as select * from nps_rows")
    monkeypatch.setattr(suites, "PART_ROWS", 2)

    frames = list(
        suites.frames_in_parts(con, "response_id", f"staging.stg_{table.system}__{table.name}", "response_id")
    )
    # r0-r1 | r2, r3 twice (a key is never split: a part goes over by less than its last key) | r4
    # | r5-r6 | the null key, last
    assert [len(f) for f in frames] == [2, 3, 1, 2, 1]
    (outcome,) = suites.validate_sources(con, full_refresh=True)

    assert outcome.rows_checked == len(rows) and not outcome.passed
    by_key = {(f.expectation, f.column): f for f in outcome.failures}
    assert by_key[("expect_column_values_to_be_unique", "response_id")].unexpected_count == 2
    assert by_key[("expect_column_values_to_not_be_null", "response_id")].unexpected_count == 1
    assert by_key[("expect_column_values_to_be_between", "score")].unexpected_count == 1


def test_a_full_refresh_is_validated_in_parts_with_failures_summed(tmp_path, monkeypatch) -> None:
    import duckdb

    from data_quality import suites

    rows = []
    for account in range(6):
        for day in range(3):
            row = dict.fromkeys(suites.SIGNAL_NOT_NEGATIVE, 1) | {
                "account_id": f"a{account}", "signal_date": pd.Timestamp("2026-01-05") + pd.Timedelta(days=day),
                "api_error_rate_7d": 0.1, "survey_response_rate_90d": 0.5, "nps_score_last": 8, "arr": 100.0,
            }  # fmt: skip
            rows.append(row)
    rows[1]["logins_7d"] = -1  # account a0
    rows[16]["logins_7d"] = -3  # account a5
    rows.append(rows[7] | {})  # a duplicate day of account a2
    rows[3]["nps_score_last"] = None  # an integer column with nulls: pandas' nullable Int32
    rows[5]["nps_score_last"] = 11
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema signals")
    con.register("signal_rows", pd.DataFrame(rows))
    con.execute(
        "create table signals.account_signals_daily as "
        "select * replace (cast(nps_score_last as integer) as nps_score_last) from signal_rows"
    )
    monkeypatch.setattr(suites, "PART_ROWS", 4)

    outcome = suites.validate_signals(con, full_refresh=True)

    assert outcome.rows_checked == len(rows)
    assert not outcome.passed
    by_key = {(f.expectation, f.column): f for f in outcome.failures}
    assert by_key[("expect_column_values_to_be_between", "logins_7d")].unexpected_count == 2
    assert sorted(by_key[("expect_column_values_to_be_between", "logins_7d")].examples) == ["-1", "-3"]
    nps = by_key[("expect_column_values_to_be_between", "nps_score_last")]
    assert (nps.unexpected_count, nps.examples) == (1, ["11"])
    assert ("expect_compound_columns_to_be_unique", None) in by_key


def test_expectations_on_columns_with_nulls_report_what_one_validation_of_the_frame_does() -> None:
    # run_suite validates them on a frame of their own columns; the verdicts must not change.
    import great_expectations as gx

    from data_quality.gx_runner import Failure

    rows = [_nps(response_id=f"r{i}", score=i % 11) for i in range(30)]
    rows[6]["score"], rows[7]["score"] = 11, -1  # out of range
    for i in (2, 11, 23):
        rows[i] |= {"score": None, "comment": None}
    rows[4]["response_id"] = rows[5]["response_id"] = None
    rows[8]["response_id"] = "r9"  # a duplicate
    frame = pd.DataFrame(rows).astype({"score": "Int64"})

    def one_validation() -> list[Failure]:
        context = gx.get_context(mode="ephemeral")
        suite = context.suites.add(source_suite(source_table("nps_responses")))
        batch = context.data_sources.add_pandas("whole").add_dataframe_asset("rows")
        definition = batch.add_batch_definition_whole_dataframe("rows")
        result = gx.ValidationDefinition(data=definition, suite=suite, name="whole").run(
            batch_parameters={"dataframe": frame.astype({"score": "float64"})},
            result_format={"result_format": "SUMMARY"},
        )
        return [
            Failure(r.expectation_config.type, r.expectation_config.kwargs.get("column"),
                    r.result["unexpected_count"], [str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
                                                   for v in r.result["partial_unexpected_list"][:5]])
            for r in result.results if not r.success
        ]  # fmt: skip

    split = run_suite(lambda: source_suite(source_table("nps_responses")), frame)
    assert sorted(split, key=repr) == sorted(one_validation(), key=repr)
    assert {(f.expectation, f.column, f.unexpected_count) for f in split} == {
        ("expect_column_values_to_be_between", "score", 2),  # nulls are not failures
        ("expect_column_values_to_not_be_null", "response_id", 2),
        ("expect_column_values_to_be_unique", "response_id", 2),
    }
