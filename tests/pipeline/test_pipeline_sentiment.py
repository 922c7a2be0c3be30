"""Ticket sentiment: the same VADER scores, in order, on one process or several."""

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from healthwatch.sentiment import score_texts


def test_scores_match_vader_in_order_on_several_processes():
    texts = [
        "This is great, thank you so much!",
        "The export is broken again and nobody answers. Terrible.",
        "Question about invoices.",
        "",
    ] * 30
    analyzer = SentimentIntensityAnalyzer()
    expected = [analyzer.polarity_scores(text)["compound"] for text in texts]
    assert score_texts(texts, workers=1) == expected
    # min_per_worker=1: two worker processes, each with its half of the texts.
    assert score_texts(texts, workers=2, min_per_worker=1) == expected
    assert expected[0] > 0.5 and expected[1] < -0.5 and expected[3] == 0.0
