"""The scale benchmark's bookkeeping (the benchmark itself is run by hand: figures in the README)."""

import os

from typer.testing import CliRunner

from bench.scale import TIERS, _peak_by_window, _thinned, _tree_rss, summarize
from healthwatch.cli import app
from healthwatch.errors import HealthwatchError


def _phase(seconds: float, dbt: float, rss: int) -> dict:
    return {
        "seconds": seconds,
        "groups": {"dbt_build": dbt},
        "peak_rss_bytes": rss,
        "rusage_bound_bytes": 2 * rss,
        "accounts_changed": 5,
        "accounts_rolled": 495,
        "dbt_models": {},
        "warehouse_bytes": 1,
    }


def test_summary_keys_and_ratios() -> None:
    base = {
        "simulate": {"seconds": 5.0, "change_rows": 100, "product_events": 90, "peak_rss_bytes": 7},
        "full": _phase(100.0, 60.0, 300),
        "stream": {"seconds": 0.1, "change_rows": 40, "first_batch_rows": 6, "peak_rss_bytes": 1},
        "roll": _phase(10.0, 8.0, 350),
        "deliver": {"seconds": 0.1, "change_rows": 34, "peak_rss_bytes": 1},
        "incremental": _phase(4.0, 3.0, 200),
    }
    figures = summarize("S", base, seed=7, touch_share=0.01)
    assert (figures["accounts"], figures["days"]) == (TIERS["S"].accounts, TIERS["S"].days)
    assert figures["full_build_s"] == 100.0
    assert figures["incremental_s"] == 4.0
    assert figures["incremental_ratio"] == 0.04
    assert figures["incremental_dbt_ratio"] == 0.05
    assert figures["incremental_change_rows"] == 34
    assert (figures["roll_s"], figures["roll_ratio"], figures["roll_change_rows"]) == (10.0, 0.1, 6)
    assert (figures["day_s"], figures["day_ratio"]) == (14.0, 0.14)
    # the simulation is reported but never counted in the pipeline's peak
    assert figures["peak_rss_bytes"] == 350
    assert figures["rusage_bound_bytes"] == 700


def test_tree_rss_counts_this_process() -> None:
    assert _tree_rss(os.getpid())["run"] > 0
    assert _tree_rss(2**22 + 12345) == {}  # no such process


def test_peak_rss_per_dbt_node_and_per_step_is_taken_while_it_ran() -> None:
    timeline = [(0.0, 10, 5), (1.0, 30, 20), (2.0, 50, 40), (3.0, 15, 10)]
    windows = {"model.a": [0.5, 1.5], "model.b": [1.5, 3.0], "test.c": [5.0, 6.0]}
    assert _peak_by_window(timeline, windows, column=2) == {"model.b": 40, "model.a": 20, "test.c": 0}
    assert _peak_by_window(timeline, windows, column=1) == {"model.b": 50, "model.a": 30, "test.c": 0}


def test_unknown_tier_is_refused_before_any_work() -> None:
    result = CliRunner().invoke(app, ["bench", "scale", "--tier", "XL"])
    assert isinstance(result.exception, HealthwatchError)
    assert "unknown tier 'XL'" in str(result.exception)


def test_rss_timeline_keeps_the_highest_sample_of_each_second() -> None:
    timeline = [(100.0, 2e9, 1e9), (100.5, 3e9, 0), (101.2, 1e9, 0), (103.0, 4e9, 2e9)]
    assert _thinned(timeline, every_s=1.0) == [[0.5, 3.0, 0.0], [1.2, 1.0, 0.0], [3.0, 4.0, 2.0]]
    assert _thinned([], every_s=1.0) == []
