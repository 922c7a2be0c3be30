"""Steps give back what they freed: glibc keeps freed heap otherwise (and pyarrow its pool), and
Great Expectations' reference cycles keep the frames they validated."""

import ctypes
import ctypes.util
import os
import weakref

import numpy as np
import pandas as pd
import pytest

from data_quality.gx_runner import COLLECT_AFTER_ROWS, run_suite_over
from data_quality.suites import source_suite
from healthwatch.contract import source_table
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


def test_a_big_validated_part_is_freed_when_the_suite_moves_on() -> None:
    # Great Expectations keeps the frame it validated in reference cycles; a part of
    # COLLECT_AFTER_ROWS rows must not outlive its validation, or each big check's frames stay
    # resident into the run's next step.
    refs: list[weakref.ref] = []

    def parts():
        frame = pd.DataFrame(
            {"response_id": [f"r{i}" for i in range(COLLECT_AFTER_ROWS)], "survey_id": "s1",
             "account_id": "a1", "contact_id": "c1", "score": 9, "comment": "great",
             "responded_at": pd.Timestamp("2026-01-05 10:00")}
        )  # fmt: skip
        refs.append(weakref.ref(frame))
        yield frame

    rows, failures = run_suite_over(lambda: source_suite(source_table("nps_responses")), parts())
    assert rows == COLLECT_AFTER_ROWS and failures == []
    assert refs[0]() is None
