"""Steps give back what they freed: glibc keeps freed heap otherwise (and pyarrow its pool), and
Great Expectations' reference cycles keep the frames they validated."""

import ctypes
import ctypes.util
import gc
import os
import weakref

import numpy as np
import pandas as pd
import pytest

from data_quality.gx_runner import run_suite_over
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


def test_a_validated_part_is_freed_by_reference_counting() -> None:
    # Great Expectations' engine caches the batch in reference cycles; run_suite must break them,
    # or each part's frame stays resident until a garbage collection (0.2 s each: too dear to
    # run after every part) and the check's frames reach into the run's next step.
    refs: list[weakref.ref] = []

    def parts():
        for _ in range(2):  # the first validation in a process differs (a stack frame kept)
            frame = pd.DataFrame(
                {"response_id": [f"r{i}" for i in range(1000)], "survey_id": "s1", "account_id": "a1",
                 "contact_id": "c1", "score": 9, "comment": "great",
                 "responded_at": pd.Timestamp("2026-01-05 10:00")}
            )  # fmt: skip
            refs.append(weakref.ref(frame))
            yield frame

    gc.disable()
    try:
        rows, failures = run_suite_over(lambda: source_suite(source_table("nps_responses")), parts())
        alive = [ref() is not None for ref in refs]
    finally:
        gc.enable()
    assert rows == 2000 and failures == []
    assert alive == [False, False]
