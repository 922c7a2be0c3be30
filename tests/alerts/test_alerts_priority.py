"""The article's priority matrix, every cell, and the order alerts are worked in."""

import duckdb
import pytest

from alerts.priority import PRIORITY_ORDER_SQL, alert_sort_key, priority, priority_sort_key
from healthwatch.errors import HealthwatchError

MATRIX = [
    # severity, enterprise, mid_market, smb
    ("critical", 1, 2, 4),
    ("high", 1, 2, 4),
    ("medium", 3, 5, 7),
    ("low", 6, 8, 9),
]
CELLS = [
    (severity, segment, expected)
    for severity, *row in MATRIX
    for segment, expected in zip(("enterprise", "mid_market", "smb"), row, strict=True)
]


@pytest.mark.parametrize(("severity", "segment", "expected"), CELLS)
def test_every_cell_of_the_matrix(severity: str, segment: str, expected: int) -> None:
    assert priority(severity, segment) == expected


def test_the_nine_cells_use_each_priority_once() -> None:
    values = {
        priority(s, seg) for s in ("high", "medium", "low") for seg in ("enterprise", "mid_market", "smb")
    }
    assert values == set(range(1, 10))


@pytest.mark.parametrize(("severity", "segment"), [("urgent", "smb"), ("high", "startup"), ("high", None)])
def test_unknown_inputs_are_refused(severity: str, segment: str | None) -> None:
    with pytest.raises(HealthwatchError):
        priority(severity, segment)  # type: ignore[arg-type]


def _alert(key: str, severity: str, segment: str, arr: float | None) -> dict:
    return {"dedup_key": key, "severity": severity, "priority": priority(severity, segment), "arr": arr}


def test_sort_follows_priority_then_severity_then_arr() -> None:
    alerts = [
        _alert("smb-high", "high", "smb", 900_000),  # 4
        _alert("ent-medium", "medium", "enterprise", 10_000),  # 3
        _alert("ent-high-small", "high", "enterprise", 50_000),  # 1, high, small ARR
        _alert("mm-critical", "critical", "mid_market", 1),  # 2
        _alert("ent-high-big", "high", "enterprise", 500_000),  # 1, high, big ARR
        _alert("ent-critical-small", "critical", "enterprise", 5_000),  # 1, critical beats high
        _alert("ent-high-noarr", "high", "enterprise", None),  # 1, unknown ARR last
    ]
    ordered = [a["dedup_key"] for a in sorted(alerts, key=alert_sort_key)]
    assert ordered == [
        "ent-critical-small",
        "ent-high-big",
        "ent-high-small",
        "ent-high-noarr",
        "mm-critical",
        "ent-medium",
        "smb-high",
    ]


def test_priority_beats_severity_and_arr() -> None:
    # Enterprise medium (3) comes before SMB critical (4), whatever the ARR.
    assert priority_sort_key(3, "medium", 1.0) < priority_sort_key(4, "critical", 10_000_000.0)


def test_sql_order_matches_python_order() -> None:
    alerts = [
        _alert("a", "high", "enterprise", 10.0),
        _alert("b", "critical", "enterprise", 1.0),
        _alert("c", "high", "enterprise", 20.0),
        _alert("d", "low", "smb", 99.0),
        _alert("e", "medium", "enterprise", None),
        _alert("f", "medium", "enterprise", 5.0),
    ]
    con = duckdb.connect()
    con.execute("create table t (dedup_key varchar, severity varchar, priority int, arr double)")
    con.executemany("insert into t values (?, ?, ?, ?)", [list(a.values()) for a in alerts])
    from_sql = [
        r[0] for r in con.execute(f"select dedup_key from t order by {PRIORITY_ORDER_SQL}").fetchall()
    ]
    assert from_sql == [a["dedup_key"] for a in sorted(alerts, key=alert_sort_key)]
