"""Steps give back what they freed: glibc keeps freed heap otherwise (and pyarrow its pool)."""

import ctypes
import ctypes.util
import os

import numpy as np
import pytest

from healthwatch.memory import _malloc_trim, release_memory

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


@pytest.mark.skipif(_malloc_trim() is None, reason="glibc only")
def test_freed_heap_in_the_middle_of_live_blocks_goes_back_to_the_system() -> None:
    # 256 KB blocks on the heap (not each its own mapping), every other one freed: the holes a
    # step's frames leave between longer-lived objects, which free() cannot hand back.
    ctypes.CDLL(ctypes.util.find_library("c")).mallopt(M_MMAP_THRESHOLD, 1 << 20)
    blocks = [np.ones(32 * 1024) for _ in range(2000)]  # 524 MB
    kept = blocks[::2]
    del blocks
    before = _rss_mb()
    release_memory()
    assert before - _rss_mb() > 200
    assert len(kept) == 1000
