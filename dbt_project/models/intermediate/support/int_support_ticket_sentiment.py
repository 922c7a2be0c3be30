"""Sentiment of each ticket's text, scored with VADER (a real sentiment model, not a word list).

SQL cannot score sentiment, so this one model is Python; it runs inside dbt on the same DuckDB file.
"""


def model(dbt, session):
    dbt.config(materialized="table")
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    tickets = dbt.ref("stg_support__tickets").df()
    analyzer = SentimentIntensityAnalyzer()
    text = tickets["subject"].fillna("").astype(str) + ". " + tickets["body"].fillna("").astype(str)
    tickets["sentiment_compound"] = [analyzer.polarity_scores(t)["compound"] for t in text]
    columns = [
        "ticket_id",
        "account_id",
        "contact_id",
        "created_at",
        "priority",
        "is_escalated",
        "sentiment_compound",
    ]
    return tickets[columns]
