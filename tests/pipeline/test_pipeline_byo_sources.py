"""A business without contracts, tickets or surveys: churn by inactivity, and every signal still builds."""

import duckdb

from healthwatch.config import load_settings
from healthwatch.loader import export_extracts, load_path

from dbt_runner import build_signals, dbt
from tests_support import REPO_ROOT, simulate_into

MISSING = ("contracts.csv", "tickets.csv", "survey_sends.csv", "nps_responses.csv", "tasks.csv")


def test_self_serve_business_without_contracts_tickets_or_surveys(tmp_path) -> None:
    config = tmp_path / "healthwatch.yml"
    config.write_text(
        (REPO_ROOT / "healthwatch.yml")
        .read_text()
        .replace("definition: contract", "definition: inactivity")
        .replace("inactive_days: 30", "inactive_days: 14")
    )

    def settings_for(name: str):
        env = {
            "HEALTHWATCH_WAREHOUSE": str(tmp_path / name / "warehouse.duckdb"),
            "HEALTHWATCH_CONFIG": str(config),
        }
        return load_settings(env=env, cwd=REPO_ROOT)

    source = settings_for("source")
    simulate_into(source, accounts=40, days=90, seed=5)
    with duckdb.connect(str(source.warehouse), read_only=True) as con:
        export_extracts(con, tmp_path / "extracts", fmt="csv")
    for name in MISSING:
        (tmp_path / "extracts" / name).unlink()

    business = settings_for("business")
    business.data_dir.mkdir()
    with duckdb.connect(str(business.warehouse)) as con:
        load_path(con, tmp_path / "extracts")
    build_signals(business, tmp_path / "target", full_refresh=True)
    dbt("docs generate", business, tmp_path / "target")

    with duckdb.connect(str(business.warehouse), read_only=True) as con:
        (signal_rows, tickets, renewals) = con.execute(
            "select count(*), sum(tickets_28d), count(renewal_date) from signals.account_signals_daily"
        ).fetchall()[0]
        reasons = con.execute(
            "select churn_reason, count(*) from signals.accounts where is_churned group by 1"
        ).fetchall()
        inactive = con.execute(
            """
            select a.account_id from signals.accounts a
            join signals.account_signals_daily s on s.account_id = a.account_id
                and s.signal_date = cast(a.churned_at as date)
            where a.is_churned and s.days_since_last_login < 14 and s.events_total > 0
            """
        ).fetchall()
    assert signal_rows > 0
    assert tickets == 0 and renewals == 0
    # every churned account churned by inactivity, on the day its inactivity reached 14 days
    assert reasons and {reason for reason, _ in reasons} == {"inactive"}
    assert inactive == []
    assert (tmp_path / "target" / "catalog.json").exists()
