"""Ticket sentiment with VADER, on several processes when there are many texts.

VADER is pure Python (~0.1 ms a text, one core); a full build at 100,000 accounts scores over a
million tickets. The dbt Python model `int_support_ticket_sentiment` calls `score_texts`; it lives
here, in an importable module, because worker processes are started fresh ("spawn": forking a
process that holds DuckDB's threads is unsafe) and must import the function they run.
"""

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

# Below this many texts per worker, starting a process (~1 s: it imports VADER) costs more than it saves.
MIN_TEXTS_PER_WORKER = 50_000


def _score_chunk(texts: Sequence[str]) -> list[float]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return [float(analyzer.polarity_scores(text)["compound"]) for text in texts]


def score_texts(
    texts: Sequence[str], workers: int, min_per_worker: int = MIN_TEXTS_PER_WORKER
) -> list[float]:
    """VADER's compound score (-1..1) of each text, in order, on up to `workers` processes."""
    workers = max(1, min(workers, len(texts) // max(1, min_per_worker)))
    if workers == 1:
        return _score_chunk(texts)
    size = -(-len(texts) // workers)
    chunks = [list(texts[start : start + size]) for start in range(0, len(texts), size)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(chunks), mp_context=context) as pool:
        return [score for scores in pool.map(_score_chunk, chunks) for score in scores]
