"""Column tables held as numpy arrays: the simulator's in-memory state, and how it is stored.

Days are integer indices from the world's start date (day 0 = start_date) and times are integer
seconds from start_date 00:00 UTC, so that state round-trips through DuckDB bit for bit.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

# "Never happened" for day and second columns: compares later than any real day.
NEVER = 10**9
NEVER_SEC = NEVER * 86_400
DAY_SECONDS = 86_400

_MATRIX_SEP = "__"


class Table:
    """Equal-length numpy columns; a 2-D column (rows x k) is stored as k columns `name__i`."""

    def __init__(self, columns: dict[str, np.ndarray]) -> None:
        self.columns = columns

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __setitem__(self, name: str, values: np.ndarray) -> None:
        self.columns[name] = values

    def take(self, index: np.ndarray) -> Table:
        """Rows by position or boolean mask."""
        return Table({name: values[index] for name, values in self.columns.items()})

    def append(self, other: Table) -> Table:
        return Table({name: np.concatenate([values, other[name]]) for name, values in self.columns.items()})

    def to_arrow(self) -> pa.Table:
        arrays: dict[str, pa.Array] = {}
        for name, values in self.columns.items():
            if values.ndim == 2:
                for i in range(values.shape[1]):
                    arrays[f"{name}{_MATRIX_SEP}{i}"] = _to_arrow(values[:, i])
            else:
                arrays[name] = _to_arrow(values)
        return pa.table(arrays)

    @classmethod
    def from_numpy(cls, raw: dict[str, np.ndarray]) -> Table:
        """From DuckDB's `fetchnumpy()`: masked (null) strings become None, `name__i` columns a matrix."""
        columns: dict[str, np.ndarray] = {}
        matrices: dict[str, list[tuple[int, np.ndarray]]] = {}
        for name, values in raw.items():
            if isinstance(values, np.ma.MaskedArray):
                data = values.data.astype(object)
                data[np.ma.getmaskarray(values)] = None
                values = data
            if _MATRIX_SEP in name:
                base, index = name.rsplit(_MATRIX_SEP, 1)
                matrices.setdefault(base, []).append((int(index), values))
            else:
                columns[name] = values
        for base, parts in matrices.items():
            columns[base] = np.column_stack([values for _, values in sorted(parts, key=lambda p: p[0])])
        return cls(columns)


def _to_arrow(values: np.ndarray) -> pa.Array:
    if values.dtype == object:
        return pa.array(values, type=pa.string())
    return pa.array(values)


def group_offsets(keys: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order rows by group key: (order, start offset per group, count per group)."""
    order = np.argsort(keys, kind="stable")
    counts = np.bincount(keys, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return order, starts, counts


def pick_in_groups(
    rng: np.random.Generator, members: np.ndarray, member_group: np.ndarray, groups: np.ndarray, n_groups: int
) -> np.ndarray:
    """One random member (uniform) of each requested group; -1 where the group has no member."""
    order, starts, counts = group_offsets(member_group, n_groups)
    sorted_members = members[order]
    n = counts[groups]
    u = rng.random(len(groups))
    pos = starts[groups] + np.minimum((u * n).astype(np.int64), np.maximum(n - 1, 0))
    out = np.full(len(groups), -1, dtype=np.int64)
    out[n > 0] = sorted_members[pos[n > 0]]
    return out
