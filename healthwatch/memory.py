"""Give memory the process no longer uses back to the system, between the steps of a run.

A run's steps share one process. Freed memory stays with the allocator that held it: pyarrow's
pool (DuckDB's DataFrames and Great Expectations go through it) keeps its free pages for reuse,
and glibc keeps freed heap. At 100,000 accounts the source-contract check left 1.35 GB resident
after it finished, and the next step started on top of it; with these two calls (and Great
Expectations' data source dropped after each part) 0.4 GB (README, "Scale").
"""

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where there is none."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        return None


def release_memory() -> None:
    """Return pyarrow's unused pool memory and glibc's free heap to the system (cheap: a few ms)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
