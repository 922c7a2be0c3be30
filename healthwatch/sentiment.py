"""Ticket sentiment with VADER, on several processes when there are many texts.

VADER is pure Python (~0.1 ms a text, one core); a full build at 100,000 accounts scores over a
million tickets. The dbt Python model `int_support_ticket_sentiment` streams the tickets through
a `SentimentScorer` in batches, so memory stays that of one batch. This lives in an importable
module because worker processes are started fresh ("spawn": forking a process that holds
DuckDB's threads is unsafe) and must import the function they run.
"""

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from types import TracebackType

# Below this many texts per worker, starting a process (~1 s: it imports VADER) costs more than it saves.
MIN_TEXTS_PER_WORKER = 50_000


def _score_chunk(texts: Sequence[str]) -> list[float]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return [float(analyzer.polarity_scores(text)["compound"]) for text in texts]


def workers_for(texts: int, threads: int, min_per_worker: int = MIN_TEXTS_PER_WORKER) -> int:
    """How many processes are worth starting for `texts` texts with `threads` cores to use."""
    return max(1, min(threads, texts // max(1, min_per_worker)))


class SentimentScorer:
    """VADER's compound score (-1..1) of each text, in order; with workers > 1, each batch is
    split across that many processes, started once for all the batches."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "SentimentScorer":
        if self.workers > 1:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def score(self, texts: Sequence[str]) -> list[float]:
        if self._pool is None or len(texts) < 2:
            return _score_chunk(texts)
        size = -(-len(texts) // self.workers)
        chunks = [texts[start : start + size] for start in range(0, len(texts), size)]
        return [score for scores in self._pool.map(_score_chunk, chunks) for score in scores]
