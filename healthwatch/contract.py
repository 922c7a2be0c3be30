"""The source contract (DESIGN.md): every source table, its key and its columns with DuckDB types.

The simulator writes rows in this shape into the change tables' `after` JSON, dbt staging reads
them back with these types, and the loader and data-quality suites check against it.
Timestamps are UTC (`timestamp`), dates are `date`.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceTable:
    system: str
    name: str
    key: str
    columns: dict[str, str]


def _t(system: str, name: str, key: str, /, **columns: str) -> SourceTable:
    return SourceTable(system, name, key, columns)


SOURCE_TABLES: tuple[SourceTable, ...] = (
    _t(
        "crm",
        "accounts",
        "account_id",
        account_id="varchar",
        name="varchar",
        segment="varchar",
        arr="double",
        plan="varchar",
        seats_purchased="integer",
        csm_id="varchar",
        created_at="timestamp",
    ),
    _t(
        "crm",
        "contracts",
        "contract_id",
        contract_id="varchar",
        account_id="varchar",
        start_date="date",
        renewal_date="date",
        arr="double",
        status="varchar",
        cancelled_at="timestamp",
    ),
    _t(
        "crm",
        "contacts",
        "contact_id",
        contact_id="varchar",
        account_id="varchar",
        email="varchar",
        role="varchar",
        is_champion="boolean",
        is_exec_sponsor="boolean",
        left_at="timestamp",
    ),
    _t(
        "crm",
        "invoices",
        "invoice_id",
        invoice_id="varchar",
        account_id="varchar",
        due_date="date",
        amount="double",
        status="varchar",
        event_at="timestamp",
    ),
    _t(
        "crm",
        "crm_events",
        "crm_event_id",
        crm_event_id="varchar",
        account_id="varchar",
        kind="varchar",
        event_at="timestamp",
    ),
    _t(
        "crm",
        "team",
        "member_id",
        member_id="varchar",
        name="varchar",
        email="varchar",
        role="varchar",
        manager_id="varchar",
        timezone="varchar",
    ),
    _t(
        "crm",
        "tasks",
        "task_id",
        task_id="varchar",
        alert_id="varchar",
        account_id="varchar",
        owner_id="varchar",
        subject="varchar",
        status="varchar",
        outcome="varchar",
        created_at="timestamp",
        updated_at="timestamp",
    ),
    _t(
        "support",
        "tickets",
        "ticket_id",
        ticket_id="varchar",
        account_id="varchar",
        contact_id="varchar",
        created_at="timestamp",
        closed_at="timestamp",
        priority="varchar",
        is_escalated="boolean",
        subject="varchar",
        body="varchar",
        csat="integer",
    ),
    _t(
        "product",
        "events",
        "event_id",
        event_id="varchar",
        account_id="varchar",
        user_id="varchar",
        event_name="varchar",
        ts="timestamp",
        properties="json",
    ),
    _t(
        "engagement",
        "survey_sends",
        "survey_id",
        survey_id="varchar",
        account_id="varchar",
        contact_id="varchar",
        sent_at="timestamp",
    ),
    _t(
        "engagement",
        "nps_responses",
        "response_id",
        response_id="varchar",
        survey_id="varchar",
        account_id="varchar",
        contact_id="varchar",
        score="integer",
        comment="varchar",
        responded_at="timestamp",
    ),
)

ACCEPTED_VALUES: dict[tuple[str, str], tuple[str, ...]] = {
    ("accounts", "segment"): ("enterprise", "mid_market", "smb"),
    ("contracts", "status"): ("active", "renewed", "cancelled"),
    ("invoices", "status"): ("paid", "failed", "overdue"),
    ("crm_events", "kind"): ("procurement_freeze", "budget_owner_change", "cancellation_request"),
    ("team", "role"): ("csm", "manager", "vp"),
}


def source_table(name: str) -> SourceTable:
    """Look a contract table up by name."""
    for table in SOURCE_TABLES:
        if table.name == name:
            return table
    raise KeyError(name)
