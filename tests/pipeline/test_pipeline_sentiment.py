"""Ticket sentiment: the same VADER scores, in order, on one process or several."""

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from healthwatch.sentiment import SentimentScorer, workers_for


def test_scores_match_vader_in_order_on_several_processes():
    texts = [
        "This is great, thank you so much!",
        "The export is broken again and nobody answers. Terrible.",
        "Question about invoices.",
        "",
    ] * 30
    analyzer = SentimentIntensityAnalyzer()
    expected = [analyzer.polarity_scores(text)["compound"] for text in texts]
    with SentimentScorer(workers=1) as scorer:
        assert scorer.score(texts) == expected
    # Two worker processes, each with its half of every batch.
    with SentimentScorer(workers=2) as scorer:
        assert scorer.score(texts) == expected
        assert scorer.score(texts[:3]) == expected[:3]
    assert workers_for(120, threads=2) == 1  # too few texts to pay for a process
    assert workers_for(120, threads=2, min_per_worker=50) == 2
    assert workers_for(10**6, threads=1) == 1
    assert expected[0] > 0.5 and expected[1] < -0.5 and expected[3] == 0.0
