"""Run a Great Expectations 1.x suite over a DataFrame and report what failed.

Great Expectations is imported inside the functions: it costs seconds to import.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from healthwatch.memory import release_memory


@dataclass(frozen=True)
class Failure:
    """One failed expectation: which, on which column, how many rows, a few of the bad values."""

    expectation: str
    column: str | None
    unexpected_count: int
    examples: list[Any] = field(default_factory=list)


def run_suite(build_suite: Callable[[], Any], frame: pd.DataFrame) -> list[Failure]:
    """Validate `frame` against the ExpectationSuite `build_suite()` makes (called once a data
    context is active, as Great Expectations requires); return the failed expectations.

    Expectations on a column with nulls are validated apart, on a frame of only their columns:
    Great Expectations drops a column's nulls by copying every column of the frame it was given,
    several times per expectation (at 100,000 accounts, 0.4 of the 0.67 s each part of the signal
    check spent in Great Expectations went on two such columns)."""
    import great_expectations as gx

    _no_batch_fingerprints()
    frame, integers = _numbers_as_floats(frame)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    suite = build_suite()
    with_nulls = {str(c) for c in frame.columns if frame[c].hasnans}
    kept: list[Any] = []
    apart: list[Any] = []
    for expectation in suite.expectations:
        (apart if getattr(expectation, "column", None) in with_nulls else kept).append(expectation)
    results = (
        _validate(context, gx.ExpectationSuite(name=suite.name, expectations=kept), frame) if kept else []
    )
    if apart:
        columns = list(dict.fromkeys(e.column for e in apart))
        apart_suite = gx.ExpectationSuite(name=f"{suite.name}, columns with nulls", expectations=apart)
        results += _validate(context, apart_suite, frame[columns])
    del frame  # no local may hold a frame once validated: see _validate
    return [_failure(outcome, integers) for outcome in results if not outcome.success]


def _no_batch_fingerprints() -> None:
    """Great Expectations hashes every row of a pandas batch smaller than 1 GB into a batch marker
    (`pandas_data_fingerprint`) that nothing here reads: at 100,000 accounts the source-contract
    check took 34 s with it, 24 s without (every string column was hashed once per part). The
    size limit is a module constant, not a setting."""
    from great_expectations.execution_engine import pandas_execution_engine

    pandas_execution_engine.HASH_THRESHOLD = 0


def _validate(context: Any, suite: Any, frame: pd.DataFrame) -> list[Any]:
    """The expectation results of one suite over one frame, in a data source of its own."""
    import great_expectations as gx

    source = context.data_sources.add_pandas(name=suite.name)
    batch_definition = source.add_dataframe_asset(name="rows").add_batch_definition_whole_dataframe(
        name="rows"
    )
    suite = context.suites.add(suite)
    validation = gx.ValidationDefinition(data=batch_definition, suite=suite, name=suite.name)
    try:
        # BASIC: the unexpected count and up to 20 of the values, all a Failure keeps. SUMMARY
        # counts each distinct unexpected value too; at 100,000 accounts the signal check spent a
        # third of its validation time on that (3 M rows: 1.9-2.1 s against 1.4-1.5 s).
        result = validation.run(
            batch_parameters={"dataframe": frame}, result_format={"result_format": "BASIC"}
        )
    finally:
        # Nothing may keep the frame once validated. The context outlives this call (Great
        # Expectations keeps the last one as the project's), and its data source's engine caches
        # the batch in reference cycles, which reference counting never frees: at 100,000
        # accounts the source-contract check left 0.51 GB of frames alive for the run's next
        # step. A garbage collection after each part freed them too, at 0.2 s a part (15 s
        # over a full build's signal check). Great Expectations keeps this call's stack frame
        # (and so its caller's) after its first validation in a process, so the locals that
        # hold a frame go too, here and in run_suite.
        engine = source.execution_engine
        if engine is not None:
            engine.batch_manager.reset_batch_cache()
            engine.batch_manager.batch_data_cache.clear()
        context.data_sources.delete(suite.name)
        del frame
    return list(result.results)


def _failure(outcome: Any, integers: set[str]) -> Failure:
    config = outcome.expectation_config
    details = outcome.result or {}
    column = config.kwargs.get("column")
    return Failure(
        expectation=config.type,
        column=column,
        unexpected_count=int(details.get("unexpected_count") or 0),
        examples=[_shown(v, column in integers) for v in (details.get("partial_unexpected_list") or [])[:5]],
    )


def _numbers_as_floats(frame: pd.DataFrame) -> tuple[pd.DataFrame, set[str]]:
    """Nullable integer columns (DuckDB's integers with nulls) as float64, nulls as NaN, and their
    names: Great Expectations checks ranges of those with a Python function per value (a third of
    the signal check's time at 10,000 accounts) and of floats in one vectorised step."""
    nullable = {
        str(c)
        for c, dtype in frame.dtypes.items()
        if isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "iu"
    }
    if not nullable:
        return frame, nullable
    return frame.astype(dict.fromkeys(nullable, "float64")), nullable


def _shown(value: Any, integer: bool) -> str:
    return str(int(value)) if integer and isinstance(value, float) and value.is_integer() else str(value)


def run_suite_over(
    build_suite: Callable[[], Any], frames: Iterable[pd.DataFrame]
) -> tuple[int, list[Failure]]:
    """Validate the frames one after the other, so memory stays that of one frame however many
    rows there are; return the rows checked and the failures merged per expectation and column
    (counts summed, the first few bad values kept)."""
    rows = 0
    merged: dict[tuple[str, str | None], Failure] = {}
    for frame in frames:
        rows += len(frame)
        failures = run_suite(build_suite, frame) if len(frame) else []
        del frame
        release_memory()  # else each part's freed pages pile up in the allocators
        for failure in failures:
            key = (failure.expectation, failure.column)
            before = merged.get(key)
            if before is None:
                merged[key] = failure
            else:
                merged[key] = Failure(
                    failure.expectation,
                    failure.column,
                    before.unexpected_count + failure.unexpected_count,
                    (before.examples + failure.examples)[:5],
                )
    return rows, list(merged.values())
