"""Leakage checks: a feature at snapshot d may use only data known at d.

The test of that is a comparison. Build the features once from all the data (what the stored
snapshots hold), and again for each snapshot date d from the data cut at d (rows dated after d
removed). An honest feature has the same value both ways; a feature that read anything after d
differs somewhere. `leaked_columns` names those columns; `point_in_time_check` runs a feature
builder both ways and compares.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

KEYS = ("account_id", "snapshot_date")


@dataclass(frozen=True)
class LeakageReport:
    """What differs between the stored snapshots and the features rebuilt from data cut at d."""

    compared_rows: int
    columns: list[str]  # columns whose value differs on at least one compared row, in column order
    differing_rows: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    only_stored: int = 0  # keys in the stored snapshots that the cut rebuild does not have
    only_rebuilt: int = 0  # keys the cut rebuild has and the stored snapshots do not

    @property
    def clean(self) -> bool:
        return not self.columns and not self.only_stored and not self.only_rebuilt

    def describe(self) -> str:
        if self.clean:
            return f"no leakage: {self.compared_rows} snapshots identical when rebuilt from data cut at their date"
        parts = [
            f"{c} differs on {self.differing_rows[c]} of {self.compared_rows} snapshots" for c in self.columns
        ]
        if self.only_stored:
            parts.append(
                f"{self.only_stored} stored snapshots missing when rebuilt from data cut at their date"
            )
        if self.only_rebuilt:
            parts.append(f"{self.only_rebuilt} snapshots exist only when rebuilt from data cut at their date")
        return "; ".join(parts)


def _keyed(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    out = frame.copy()
    if "snapshot_date" in keys:
        out["snapshot_date"] = pd.to_datetime(out["snapshot_date"]).dt.normalize()
    out["account_id"] = out["account_id"].astype("str")
    if out.duplicated(list(keys)).any():
        raise ValueError(f"the frames must have one row per {', '.join(keys)}")
    return out.set_index(list(keys)).sort_index()


def _differs(a: pd.Series, b: pd.Series, rtol: float, atol: float) -> np.ndarray:
    """Element-wise "not the same value"; missing equals missing, numbers compare with a tolerance."""
    a_missing, b_missing = a.isna().to_numpy(), b.isna().to_numpy()
    numeric = pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b)
    numeric = numeric and not pd.api.types.is_bool_dtype(a) and not pd.api.types.is_bool_dtype(b)
    if numeric:
        x = a.to_numpy(dtype="float64", na_value=np.nan)
        y = b.to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore"):
            same = np.isclose(x, y, rtol=rtol, atol=atol)
    else:
        same = (a.astype("object").to_numpy() == b.astype("object").to_numpy()).astype(bool)
    return np.where(a_missing | b_missing, a_missing != b_missing, ~same)


def leaked_columns(
    stored: pd.DataFrame,
    cut: pd.DataFrame,
    columns: Iterable[str] | None = None,
    keys: Sequence[str] = KEYS,
    rtol: float = 1e-9,
    atol: float = 1e-9,
    max_examples: int = 3,
) -> LeakageReport:
    """Compare the stored snapshots with the features rebuilt from data cut at each snapshot date.

    Both frames are keyed by `account_id` and `snapshot_date` (one row per key). `columns` defaults
    to every non-key column the two frames share. Rows are compared on the keys both frames have;
    keys on one side only are counted (a snapshot that exists only because of later data is a
    leak of its own). Missing equals missing; numbers compare with `rtol` / `atol`.
    """
    left, right = _keyed(stored, keys), _keyed(cut, keys)
    if columns is None:
        columns = [c for c in left.columns if c in right.columns]
    columns = list(columns)
    absent = [c for c in columns if c not in left.columns or c not in right.columns]
    if absent:
        raise ValueError(f"columns missing from one of the frames: {', '.join(absent)}")
    common = left.index.intersection(right.index)
    left_rows, right_rows = left.loc[common], right.loc[common]
    differing: dict[str, int] = {}
    examples: dict[str, list[dict[str, Any]]] = {}
    for column in columns:
        mask = _differs(left_rows[column], right_rows[column], rtol, atol)
        if mask.any():
            differing[column] = int(mask.sum())
            where = np.flatnonzero(mask)[:max_examples]
            examples[column] = [
                {
                    **dict(zip(keys, (str(k) for k in common[i]), strict=True)),
                    "stored": left_rows[column].iloc[i],
                    "cut": right_rows[column].iloc[i],
                }
                for i in where
            ]
    return LeakageReport(
        compared_rows=len(common),
        columns=[c for c in columns if c in differing],
        differing_rows=differing,
        examples=examples,
        only_stored=len(left.index.difference(right.index)),
        only_rebuilt=len(right.index.difference(left.index)),
    )


FeatureBuilder = Callable[[dict[str, pd.DataFrame], Sequence[pd.Timestamp]], pd.DataFrame]


def cut_at(
    sources: dict[str, pd.DataFrame],
    when: pd.Timestamp,
    time_columns: dict[str, str],
    dated_attributes: dict[str, Sequence[str]] | None = None,
) -> dict[str, pd.DataFrame]:
    """The sources as known at the end of day `when`.

    `time_columns`: per fact source, the column that dates its rows; rows dated after the day are
    dropped. `dated_attributes`: per dimension source, timestamp columns whose values after the day
    are not known yet and become missing (an account's churn date in the future, say); the rows
    stay. Sources named in neither are kept whole.
    """
    end = pd.Timestamp(when).normalize() + pd.Timedelta(days=1)
    dated_attributes = dated_attributes or {}
    out: dict[str, pd.DataFrame] = {}
    for name, frame in sources.items():
        if name in time_columns:
            stamp = pd.to_datetime(frame[time_columns[name]])
            frame = frame.loc[stamp.isna() | (stamp < end)]
        for column in dated_attributes.get(name, ()):
            stamp = pd.to_datetime(frame[column])
            frame = frame.assign(**{column: stamp.where(stamp < end)})
        out[name] = frame
    return out


def point_in_time_check(
    build: FeatureBuilder,
    sources: dict[str, pd.DataFrame],
    snapshot_dates: Sequence[pd.Timestamp],
    time_columns: dict[str, str],
    dated_attributes: dict[str, Sequence[str]] | None = None,
    columns: Iterable[str] | None = None,
) -> LeakageReport:
    """Run a feature builder on all the data, and per snapshot date on the data cut at that date
    (`cut_at`), and compare the two (`leaked_columns`).

    `build(sources, dates)` returns one row per account and date (keys `account_id`,
    `snapshot_date`), as the stored snapshots would hold them.
    """
    dates = [pd.Timestamp(d).normalize() for d in snapshot_dates]
    stored = build(sources, dates)
    rebuilt = pd.concat(
        [build(cut_at(sources, d, time_columns, dated_attributes), [d]) for d in dates],
        ignore_index=True,
    )
    return leaked_columns(stored, rebuilt, columns)
