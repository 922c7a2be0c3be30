"""Every change row is in the source contract's shape, in the Debezium envelope."""

import duckdb
import pytest

from healthwatch.contract import ACCEPTED_VALUES, SOURCE_TABLES, SourceTable

from sim_helpers import CHANGE_TABLES, START

SIMULATED = [t for t in SOURCE_TABLES if t.name != "tasks"]  # tasks are written by the pipeline
NULLABLE = {
    ("contracts", "cancelled_at"),
    ("contacts", "left_at"),
    ("team", "manager_id"),
    ("tickets", "closed_at"),
    ("tickets", "csat"),
    ("nps_responses", "comment"),
}
TS_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"


def rows(con: duckdb.DuckDBPyConnection, query: str, params: list | None = None) -> list[tuple]:
    return con.execute(query, params or []).fetchall()


def scalar(con: duckdb.DuckDBPyConnection, query: str, params: list | None = None):
    return rows(con, query, params)[0][0]


def changes(table: SourceTable) -> str:
    return f"cdc.{table.system}_changes"


@pytest.mark.parametrize("table", SIMULATED, ids=lambda t: t.name)
def test_images_have_exactly_the_contract_columns(
    small_con: duckdb.DuckDBPyConnection, table: SourceTable
) -> None:
    def key_sets(side: str) -> list[list[str]]:
        query = f"select distinct json_keys({side}) from {changes(table)} where source_table = ? and {side} is not null"
        return [list(keys) for (keys,) in rows(small_con, query, [table.name])]

    assert key_sets("after") == [list(table.columns)]
    assert key_sets("before") in ([], [list(table.columns)])


@pytest.mark.parametrize("table", SIMULATED, ids=lambda t: t.name)
def test_values_cast_to_the_contract_types(small_con: duckdb.DuckDBPyConnection, table: SourceTable) -> None:
    for column, kind in table.columns.items():
        raw = f"after->>'$.{column}'"
        where = f"from {changes(table)} where source_table = '{table.name}' and after is not null"
        if kind == "json":
            assert (
                scalar(small_con, f"select count(*) {where} and json_type(after, '$.{column}') <> 'OBJECT'")
                == 0
            )
            continue
        bad_cast = scalar(
            small_con, f"select count(*) {where} and {raw} is not null and try_cast({raw} as {kind}) is null"
        )
        assert bad_cast == 0, f"{table.name}.{column} does not cast to {kind}"
        if (table.name, column) not in NULLABLE:
            assert scalar(small_con, f"select count(*) {where} and {raw} is null") == 0, (
                f"{table.name}.{column} is null"
            )
        pattern = {"timestamp": TS_PATTERN, "date": DATE_PATTERN}.get(kind)
        if pattern:
            odd = scalar(
                small_con,
                f"select count(*) {where} and {raw} is not null and not regexp_matches({raw}, ?)",
                [pattern],
            )
            assert odd == 0, f"{table.name}.{column} is not ISO-8601"


@pytest.mark.parametrize("change_table", CHANGE_TABLES)
def test_envelope(small_con: duckdb.DuckDBPyConnection, change_table: str) -> None:
    n, distinct, lo, hi = rows(
        small_con, f"select count(*), count(distinct seq), min(seq), max(seq) from {change_table}"
    )[0]
    assert n > 0 and n == distinct and lo == 1 and hi == n
    assert scalar(small_con, f"select count(*) from {change_table} where op not in ('c', 'u', 'd', 'r')") == 0
    assert (
        scalar(
            small_con, f"select count(*) from {change_table} where op in ('c', 'r') and before is not null"
        )
        == 0
    )
    assert scalar(small_con, f"select count(*) from {change_table} where op <> 'd' and after is null") == 0
    assert scalar(small_con, f"select count(*) from {change_table} where op = 'u' and before is null") == 0
    lag = "ingested_at - source_ts"
    assert (
        scalar(
            small_con,
            f"select count(*) from {change_table} where {lag} < interval 1 second or {lag} > interval 10 minute",
        )
        == 0
    )
    # a later day never gets smaller seqs
    backwards = f"""select count(*) from (
        select source_ts::date as d, lag(source_ts::date) over (order by seq) as previous from {change_table})
        where d < previous"""
    assert scalar(small_con, backwards) == 0


@pytest.mark.parametrize("table", SIMULATED, ids=lambda t: t.name)
def test_keys(small_con: duckdb.DuckDBPyConnection, table: SourceTable) -> None:
    source = f"from {changes(table)} where source_table = '{table.name}'"
    key = f"coalesce(after, before)->>'$.{table.key}'"
    assert scalar(small_con, f"select count(*) {source} and key is distinct from {key}") == 0
    created = f"{source} and op in ('c', 'r')"
    assert scalar(small_con, f"select count(*) - count(distinct key) {created}") == 0
    assert (
        scalar(small_con, f"select count(*) {source} and op = 'u' and key not in (select key {created})") == 0
    )


def test_snapshot_rows_open_the_world(small_con: duckdb.DuckDBPyConnection) -> None:
    snapshot = rows(
        small_con,
        "select source_table, count(*), min(source_ts), max(source_ts) from cdc.crm_changes where op = 'r' group by all",
    )
    assert {name for name, *_ in snapshot} == {"team", "accounts", "contracts", "contacts"}
    assert all(lo == hi and lo.date() == START and lo.hour == 0 for _, _, lo, hi in snapshot)
    for change_table in CHANGE_TABLES:
        assert (
            scalar(
                small_con,
                f"select count(*) from {change_table} where op <> 'r' and source_ts::date < ?",
                [START],
            )
            == 0
        )


@pytest.mark.parametrize(("table", "column"), ACCEPTED_VALUES.keys())
def test_accepted_values(small_con: duckdb.DuckDBPyConnection, table: str, column: str) -> None:
    if table == "tasks":
        pytest.skip("tasks are written by the pipeline")
    system = next(t.system for t in SOURCE_TABLES if t.name == table)
    values = {
        v
        for (v,) in rows(
            small_con,
            f"select distinct after->>'$.{column}' from cdc.{system}_changes where source_table = ?",
            [table],
        )
    }
    assert values and values <= set(ACCEPTED_VALUES[(table, column)])


def test_team_and_owners(small_con: duckdb.DuckDBPyConnection) -> None:
    team = rows(
        small_con,
        """select after->>'$.member_id', after->>'$.role', after->>'$.manager_id', after->>'$.email', after->>'$.timezone'
        from cdc.crm_changes where source_table = 'team'""",
    )
    roles = {member: role for member, role, *_ in team}
    assert sorted(roles.values()).count("vp") == 1
    assert sum(role == "csm" for role in roles.values()) >= 3
    for _, role, manager, email, timezone in team:
        assert email.endswith("@healthwatch-demo.example") and "/" in timezone
        assert (role == "vp") == (manager is None)
        if role == "csm":
            assert roles[manager] == "manager"
    csms = {m for m, role in roles.items() if role == "csm"}
    owners = rows(
        small_con, "select distinct after->>'$.csm_id' from cdc.crm_changes where source_table = 'accounts'"
    )
    assert {o for (o,) in owners} <= csms


def test_every_email_is_on_an_example_domain(small_con: duckdb.DuckDBPyConnection) -> None:
    emails = rows(
        small_con, "select after->>'$.email' from cdc.crm_changes where source_table in ('contacts', 'team')"
    )
    assert emails and all(e.endswith(".example") and "@" in e for (e,) in emails)


def test_event_properties(small_con: duckdb.DuckDBPyConnection) -> None:
    by_name = dict(
        rows(
            small_con,
            """select after->>'$.event_name', list(distinct json_keys(after->'$.properties'))
            from cdc.product_changes group by all""",
        )
    )
    assert by_name["session"] == [["duration_seconds"]]
    assert by_name["feature_used"] == [["feature"]]
    assert by_name["api_call"] == [["status", "latency_ms"]]
    assert {"login", "help_doc_viewed", "invite_sent"} <= set(by_name)
    features = {
        f
        for (f,) in rows(
            small_con,
            "select distinct after->>'$.properties.feature' from cdc.product_changes where after->>'$.event_name' = 'feature_used'",
        )
    }
    assert {"reports", "dashboards", "search"} <= features
    statuses = {
        s
        for (s,) in rows(
            small_con,
            "select distinct (after->>'$.properties.status')::int from cdc.product_changes where after->>'$.event_name' = 'api_call'",
        )
    }
    assert 200 in statuses and any(s >= 400 for s in statuses)


def test_nothing_new_after_churn(small_con: duckdb.DuckDBPyConnection) -> None:
    churned = """select after->>'$.account_id' as account_id, min(source_ts::date) as churn_day from cdc.crm_changes
        where source_table = 'contracts' and after->>'$.status' = 'cancelled' group by all"""
    for change_table, op_filter, ts in (
        ("cdc.product_changes", "true", "after->>'$.ts'"),
        ("cdc.support_changes", "op = 'c'", "after->>'$.created_at'"),
        ("cdc.engagement_changes", "source_table = 'survey_sends'", "after->>'$.sent_at'"),
    ):
        late = f"""select count(*) from {change_table} c join ({churned}) x on x.account_id = c.after->>'$.account_id'
            where {op_filter} and ({ts})::timestamp::date >= x.churn_day"""
        assert scalar(small_con, late) == 0, change_table


def test_sim_schema_holds_the_hidden_truth(small_con: duckdb.DuckDBPyConnection) -> None:
    n_accounts, last_day = rows(small_con, "select accounts, last_day from sim.world")[0]
    assert n_accounts == 80
    per_day = rows(
        small_con,
        "select count(distinct account_id), count(distinct day), min(health), max(health) from sim.account_health",
    )[0]
    assert per_day[0] == 80 and per_day[1] == 60 and 0 <= per_day[2] <= per_day[3] <= 1
    assert scalar(small_con, "select max(day) from sim.account_health") == last_day
    archetypes = {a for (a,) in rows(small_con, "select distinct initial_archetype from sim.account_truth")}
    assert archetypes <= {"healthy", "decliner", "recovering", "expanding"} and "decliner" in archetypes
