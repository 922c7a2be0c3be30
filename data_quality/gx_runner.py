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
    context is active, as Great Expectations requires); return the failed expectations."""
    import great_expectations as gx

    frame, integers = _numbers_as_floats(frame)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    suite = build_suite()
    source = context.data_sources.add_pandas(name=suite.name)
    batch_definition = source.add_dataframe_asset(name="rows").add_batch_definition_whole_dataframe(
        name="rows"
    )
    suite = context.suites.add(suite)
    validation = gx.ValidationDefinition(data=batch_definition, suite=suite, name=suite.name)
    try:
        result = validation.run(
            batch_parameters={"dataframe": frame}, result_format={"result_format": "SUMMARY"}
        )
    finally:
        # Nothing may keep the frame once validated. The context outlives this call (Great
        # Expectations keeps the last one as the project's), and its data source's engine caches
        # the batch in reference cycles, which reference counting never frees: at 100,000
        # accounts the source-contract check left 0.51 GB of frames alive for the run's next
        # step. A garbage collection after each part freed them too, at 0.2 s a part (15 s
        # over a full build's signal check). Great Expectations keeps this call's stack frame
        # after its first validation in a process, so the local goes too: `del frame`.
        engine = source.execution_engine
        if engine is not None:
            engine.batch_manager.reset_batch_cache()
            engine.batch_manager.batch_data_cache.clear()
        context.data_sources.delete(suite.name)
        del frame
    failures = []
    for outcome in result.results:
        if outcome.success:
            continue
        config = outcome.expectation_config
        details = outcome.result or {}
        column = config.kwargs.get("column")
        failures.append(
            Failure(
                expectation=config.type,
                column=column,
                unexpected_count=int(details.get("unexpected_count") or 0),
                examples=[
                    _shown(v, column in integers) for v in (details.get("partial_unexpected_list") or [])[:5]
                ],
            )
        )
    return failures


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
