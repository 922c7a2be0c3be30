"""The simulated world means something: churn is predictable from the signals, but not trivially."""

import statistics
from datetime import timedelta

import duckdb
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from healthwatch.simulator.calendar import is_working_day

from sim_helpers import day

LOGINS = """select after->>'$.account_id' as account_id, (after->>'$.ts')::timestamp::date as d
    from cdc.product_changes where after->>'$.event_name' = 'login'"""
EVENTS_PER_DAY = "select source_ts::date as d, count(*) as n from cdc.product_changes group by all"


def rows(con: duckdb.DuckDBPyConnection, query: str, params: list | None = None) -> list[tuple]:
    return con.execute(query, params or []).fetchall()


def test_churners_log_in_less_before_they_churn(large_con: duckdb.DuckDBPyConnection) -> None:
    """Logins in the 30 days before churn vs the account's own first 30 days."""
    ratios = rows(
        large_con,
        f"""with logins as ({LOGINS}),
        accounts as (
            select account_id, churned_on is not null as churned, coalesce(churned_on, ?) as end_day
            from sim.account_truth where coalesce(churned_on, ?) >= ?)
        select churned, count(*) filter (where d >= end_day - 30 and d < end_day)
                        / greatest(count(*) filter (where d < ?), 1)
        from accounts left join logins using (account_id) group by account_id, churned""",
        [day(150), day(150), day(60), day(30)],
    )
    churned = [r for c, r in ratios if c]
    stayed = [r for c, r in ratios if not c]
    assert len(churned) >= 8
    assert statistics.median(churned) < 0.7 * statistics.median(stayed)
    assert statistics.median(stayed) > 0.85


def test_decliners_write_more_negative_tickets(large_con: duckdb.DuckDBPyConnection) -> None:
    tickets = rows(
        large_con,
        """select t.initial_archetype, c.after->>'$.subject' || '. ' || (c.after->>'$.body')
        from cdc.support_changes c join sim.account_truth t on t.account_id = c.after->>'$.account_id'
        where c.op = 'c' and t.initial_archetype in ('healthy', 'decliner')""",
    )
    vader = SentimentIntensityAnalyzer()
    scores: dict[str, list[float]] = {"healthy": [], "decliner": []}
    for archetype, text in tickets:
        scores[archetype].append(vader.polarity_scores(text)["compound"])
    assert statistics.mean(scores["decliner"]) < statistics.mean(scores["healthy"]) - 0.1
    # healthy accounts complain too, now and then: noise for a sentiment rule
    assert sum(s < -0.3 for s in scores["healthy"]) > 0.05 * len(scores["healthy"])


def test_angry_templates_read_negative_and_positive_ones_do_not() -> None:
    import numpy as np

    from healthwatch.simulator.text import ANGRY, NEUTRAL, POSITIVE, ticket_texts

    vader = SentimentIntensityAnalyzer()
    rng = np.random.default_rng(0)
    for tone, check in (
        (ANGRY, lambda s: s < -0.2),
        (POSITIVE, lambda s: s > 0.2),
        (NEUTRAL, lambda s: s > -0.3),
    ):
        subjects, bodies = ticket_texts(rng, np.full(200, tone), ["reports"])
        compound = [
            vader.polarity_scores(f"{s}. {b}")["compound"] for s, b in zip(subjects, bodies, strict=True)
        ]
        assert sum(map(check, compound)) >= 0.9 * len(compound), tone


def test_weekends_are_quieter(large_con: duckdb.DuckDBPyConnection) -> None:
    by_kind = dict(
        rows(
            large_con,
            f"select dayofweek(d) in (0, 6), avg(n) from ({EVENTS_PER_DAY}) where d not between ? and ? group by all",
            [day(110), day(125)],
        )
    )
    assert by_kind[True] < 0.3 * by_kind[False]


def test_holidays_and_year_end_are_quieter(large_con: duckdb.DuckDBPyConnection) -> None:
    per_day = dict(rows(large_con, EVENTS_PER_DAY))
    thanksgiving = per_day[day(87)]  # Thursday 2025-11-27
    other_thursdays = [per_day[day(87 + k)] for k in (-14, -7, 14)]
    assert thanksgiving < 0.5 * statistics.mean(other_thursdays)
    year_end = [per_day[day(i)] for i in (119, 120, 121)]  # Mon-Wed 29-31 December
    mid_december = [per_day[day(i)] for i in (105, 106, 107)]  # Mon-Wed 15-17 December
    assert statistics.mean(year_end) < 0.6 * statistics.mean(mid_december)


def test_event_volume_is_realistic(large_con: duckdb.DuckDBPyConnection) -> None:
    events, accounts = rows(
        large_con,
        "select (select count(*) from cdc.product_changes), (select count(*) from sim.account_truth)",
    )[0]
    assert 12 <= events / accounts / 150 <= 30


def test_some_churn_is_not_predictable(large_con: duckdb.DuckDBPyConnection) -> None:
    """Healthy accounts churn now and then, and some churners never declined."""
    healthy_churners = rows(
        large_con,
        "select count(*) from sim.account_truth where initial_archetype = 'healthy' and churned_on is not null",
    )[0][0]
    unforeseen = rows(large_con, "select count(*) from sim.account_truth where churn_reason = 'unforeseen'")[
        0
    ][0]
    assert healthy_churners >= 1 and unforeseen >= 1


def test_cancellation_requests_announce_churn(large_con: duckdb.DuckDBPyConnection) -> None:
    leads = rows(
        large_con,
        """select t.account_id, any_value(t.churned_on) - max((c.after->>'$.event_at')::timestamp::date)
        from sim.account_truth t
        left join cdc.crm_changes c
            on c.after->>'$.account_id' = t.account_id and c.after->>'$.kind' = 'cancellation_request'
        where t.churned_on is not null group by t.account_id""",
    )
    announced = [lead for _, lead in leads if lead is not None]
    assert 0.4 * len(leads) <= len(announced) < len(leads)
    assert all(0 <= lead <= 45 for lead in announced)


def test_traps_for_static_rules(large_con: duckdb.DuckDBPyConnection) -> None:
    """Healthy accounts have bad weeks, failed payments and detractor scores, and stay."""
    bad_weeks = (
        "select count(*) from sim.account_truth where bad_week_start is not null and churned_on is null"
    )
    assert rows(large_con, bad_weeks)[0][0] > 10
    failed_healthy = rows(
        large_con,
        """select count(distinct c.key) from cdc.crm_changes c join sim.account_truth t on t.account_id = c.after->>'$.account_id'
        where c.source_table = 'invoices' and c.after->>'$.status' = 'failed' and t.initial_archetype = 'healthy'""",
    )[0][0]
    assert failed_healthy > 0
    detractors = rows(
        large_con,
        """select count(*) from cdc.engagement_changes c join sim.account_truth t on t.account_id = c.after->>'$.account_id'
        where c.source_table = 'nps_responses' and (c.after->>'$.score')::int <= 6 and t.initial_archetype = 'healthy'""",
    )[0][0]
    assert detractors > 20


def test_a_bad_week_halves_activity_then_it_comes_back(large_con: duckdb.DuckDBPyConnection) -> None:
    """A healthy account's bad week: the trap for a static usage-drop rule."""
    weeks = rows(
        large_con,
        """select account_id, bad_week_start, bad_week_days from sim.account_truth
        where bad_week_start between ? and ? and churned_on is null""",
        [day(21), day(120)],
    )
    logins = {
        (a, d): n
        for a, d, n in rows(large_con, f"select account_id, d, count(*) from ({LOGINS}) group by all")
    }

    def per_working_day(account: str, first, days: int) -> float:
        working = [
            first + timedelta(days=i) for i in range(days) if is_working_day(first + timedelta(days=i))
        ]
        return sum(logins.get((account, d), 0) for d in working) / max(len(working), 1)

    during, after = [], []
    for account, start, length in weeks:
        before = per_working_day(account, start - timedelta(days=21), 21)
        if before > 0:
            during.append(per_working_day(account, start, length) / before)
            after.append(per_working_day(account, start + timedelta(days=length), 21) / before)
    assert len(during) >= 10
    assert 0.3 < statistics.median(during) < 0.7
    assert statistics.median(after) > 0.85


def test_nps_follows_health(large_con: duckdb.DuckDBPyConnection) -> None:
    stats = dict(
        (archetype, (mean, rate))
        for archetype, mean, rate in rows(
            large_con,
            """with sends as (
                select after->>'$.account_id' as account_id, count(*) as sent from cdc.engagement_changes
                where source_table = 'survey_sends' group by all),
            answers as (
                select after->>'$.account_id' as account_id, count(*) as answered,
                       sum((after->>'$.score')::int) as score_sum
                from cdc.engagement_changes where source_table = 'nps_responses' group by all)
            select t.initial_archetype, sum(score_sum) / sum(answered), sum(answered) / sum(sent)
            from sim.account_truth t join sends using (account_id) left join answers using (account_id)
            group by all""",
        )
    )
    assert stats["decliner"][0] < stats["healthy"][0] - 1
    assert stats["decliner"][1] < stats["healthy"][1]


def test_expanding_accounts_approach_their_seat_cap(large_con: duckdb.DuckDBPyConnection) -> None:
    utilisation = dict(
        rows(
            large_con,
            """with users as (
                select after->>'$.account_id' as account_id, count(distinct after->>'$.user_id') as active
                from cdc.product_changes where source_ts >= ? and after->>'$.event_name' = 'login' group by all),
            seats as (
                select key as account_id, arg_max((after->>'$.seats_purchased')::int, seq) as seats
                from cdc.crm_changes where source_table = 'accounts' group by all)
            select t.initial_archetype, avg(active / seats)
            from sim.account_truth t join users using (account_id) join seats using (account_id)
            where t.churned_on is null group by all""",
            [day(120)],
        )
    )
    assert utilisation["expanding"] > utilisation["healthy"] + 0.1


def test_company_names_are_unique_and_varied(large_con: duckdb.DuckDBPyConnection) -> None:
    names = [
        n
        for (n,) in rows(
            large_con,
            "select after->>'$.name' from cdc.crm_changes where source_table = 'accounts' and op = 'r'",
        )
    ]
    assert len(names) == len(set(names)) == 300
    assert any("&" in n for n in names) and any("'" in n for n in names)
    assert any(not n.isascii() for n in names)
