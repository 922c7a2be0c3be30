"""Sentiment of each ticket's text, scored with VADER (a real sentiment model, not a word list).

SQL cannot score sentiment, so this one model is Python. It is an incremental cache keyed by
ticket: a run scores only the tickets whose changes are in the batch (VADER costs ~0.1 ms a
ticket, too much to redo every ticket every run); support signals join it to the tickets. A big
batch (a full build) is scored on as many processes as DuckDB has threads
(`healthwatch.sentiment.score_texts`).
"""


def model(dbt, session):
    dbt.config(materialized="incremental", unique_key="ticket_id", incremental_strategy="delete+insert")
    dbt.ref("int_pending_changes")  # a dependency in every mode, for the build order

    tickets = dbt.ref("stg_support__tickets")
    if dbt.is_incremental:
        touched = dbt.ref("int_pending_changes").filter("source_table = 'tickets'").project("key")
        session.register("touched_tickets", touched.df())
        tickets = tickets.filter("ticket_id in (select key from touched_tickets)")
    tickets = tickets.project("ticket_id, subject, body").df()
    from healthwatch.sentiment import score_texts

    text = tickets["subject"].fillna("").astype(str) + ". " + tickets["body"].fillna("").astype(str)
    threads = int(session.execute("select current_setting('threads')").fetchone()[0])
    scored = tickets[["ticket_id"]].copy()
    scored["sentiment_compound"] = score_texts(text.tolist(), workers=threads)
    return scored.astype({"ticket_id": "str", "sentiment_compound": "float64"})
