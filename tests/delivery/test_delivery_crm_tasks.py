import csv
from datetime import timedelta

import duckdb
import pytest

from delivery.crm_tasks import _CONTENT_COLUMNS, build_crm_tasks, desired_tasks, export_crm_tasks_csv
from delivery.pipeline import write_crm_tasks
from healthwatch.errors import HealthwatchError
from healthwatch.warehouse import connect

TASK_SNAPSHOT = "select * from alerts.crm_tasks order by task_id"


def test_only_actionable_alerts_get_tasks(warehouse):
    wanted = {
        warehouse.add_alert("acc-acme", severity="critical", priority=1),
        warehouse.add_alert("acc-globex", severity="high", priority=2, status="acknowledged"),
        warehouse.add_alert("acc-initech", severity="medium", priority=7),
    }
    warehouse.add_alert("acc-umbrella", severity="low", priority=6)
    warehouse.add_alert("acc-acme", severity="high", priority=1, status="resolved")
    warehouse.add_alert("acc-globex", severity="critical", priority=2, status="suppressed")

    summary = build_crm_tasks(warehouse.con, warehouse.clock)

    tasks = warehouse.rows(TASK_SNAPSHOT)
    assert {t["task_id"] for t in tasks} == wanted
    assert summary.created == 3 and summary.open_tasks == 3
    assert all(t["status"] == "open" for t in tasks)


def test_task_shape(warehouse):
    alert_id = warehouse.add_alert(
        "acc-acme", alert_type="payment_failure", severity="critical", priority=1, playbook="Call finance."
    )
    build_crm_tasks(warehouse.con, warehouse.clock)

    (task,) = warehouse.rows(TASK_SNAPSHOT)
    assert task["task_id"] == task["alert_id"] == alert_id
    assert task["subject"] == "[P1] Payment failure — Acme Corp"
    assert task["owner_id"] == "csm-ana" and task["owner_email"] == "ana@example.com"
    assert task["due_at"] == warehouse.clock + timedelta(hours=18)
    assert (task["priority"], task["crm_priority"], task["task_type"]) == (1, "High", "alert")
    assert task["created_at"] == task["updated_at"] == warehouse.clock
    description = task["description"]
    for expected in (
        "Logins fell 42%",  # reason
        "Logins 7d: 70 vs baseline 120 (−42%) · 7d",  # evidence
        "- logins −42% vs 4-week normal",  # top driver
        "Playbook: Call finance.",
        "Due: 2026-02-28 06:00 UTC",
    ):
        assert expected in description
    assert "seat use at 40%" not in description  # only the top three drivers


def test_crm_priority_bands(warehouse):
    for priority in (3, 4, 6, 7):
        warehouse.add_alert("acc-globex", severity="medium", priority=priority)
    build_crm_tasks(warehouse.con, warehouse.clock)
    bands = {t["priority"]: t["crm_priority"] for t in warehouse.rows(TASK_SNAPSHOT)}
    assert bands == {3: "High", 4: "Normal", 6: "Normal", 7: "Low"}


def test_exec_outreach_task(warehouse):
    alert_id = warehouse.add_alert("acc-acme", severity="critical", priority=1, needs_exec_outreach=True)
    warehouse.add_alert("acc-globex", severity="high", priority=2, needs_exec_outreach=False)

    build_crm_tasks(warehouse.con, warehouse.clock)

    tasks = {t["task_id"]: t for t in warehouse.rows(TASK_SNAPSHOT)}
    assert len(tasks) == 3
    exec_task = tasks[f"{alert_id}:exec"]
    assert exec_task["subject"].startswith("Exec-sponsor outreach: Acme Corp")
    assert exec_task["task_type"] == "exec_outreach"
    assert exec_task["alert_id"] == alert_id
    assert exec_task["owner_id"] == "mgr-lee"  # the CSM's manager leads exec outreach
    assert exec_task["owner_email"] == "lee@example.com"
    assert exec_task["due_at"] == tasks[alert_id]["due_at"]


def test_tasks_are_idempotent(warehouse):
    warehouse.add_alert("acc-acme", severity="critical", priority=1, needs_exec_outreach=True)
    warehouse.add_alert("acc-initech", severity="medium", priority=7)

    first = build_crm_tasks(warehouse.con, warehouse.clock)
    before = warehouse.rows(TASK_SNAPSHOT)
    second = build_crm_tasks(warehouse.con, warehouse.clock + timedelta(hours=1))

    assert warehouse.rows(TASK_SNAPSHOT) == before
    assert (first.created, second.created, second.updated, second.unchanged) == (3, 0, 0, 3)


def test_reescalated_alert_updates_its_task(warehouse):
    alert_id = warehouse.add_alert("acc-globex", severity="medium", priority=5)
    build_crm_tasks(warehouse.con, warehouse.clock)

    later = warehouse.clock + timedelta(hours=3)
    new_due = later + timedelta(hours=4)
    warehouse.update_alert(alert_id, severity="critical", priority=2, sla_due_at=new_due)
    summary = build_crm_tasks(warehouse.con, later)

    (task,) = warehouse.rows(TASK_SNAPSHOT)
    assert (summary.created, summary.updated) == (0, 1)
    assert (task["priority"], task["crm_priority"], task["due_at"]) == (2, "High", new_due)
    assert task["subject"].startswith("[P2] ")
    assert task["created_at"] == warehouse.clock and task["updated_at"] == later


def test_task_closes_when_alert_resolves_and_reopens(warehouse):
    alert_id = warehouse.add_alert("acc-acme", severity="critical", priority=1, needs_exec_outreach=True)
    build_crm_tasks(warehouse.con, warehouse.clock)

    warehouse.update_alert(alert_id, status="resolved")
    summary = build_crm_tasks(warehouse.con, warehouse.clock + timedelta(hours=1))
    assert summary.closed == 2 and summary.open_tasks == 0
    assert {t["status"] for t in warehouse.rows(TASK_SNAPSHOT)} == {"closed"}

    warehouse.update_alert(alert_id, status="open")
    summary = build_crm_tasks(warehouse.con, warehouse.clock + timedelta(hours=2))
    assert (summary.updated, summary.open_tasks) == (2, 2)
    assert len(warehouse.rows(TASK_SNAPSHOT)) == 2


def test_exec_task_closes_when_outreach_no_longer_needed(warehouse):
    alert_id = warehouse.add_alert("acc-acme", severity="critical", priority=1, needs_exec_outreach=True)
    build_crm_tasks(warehouse.con, warehouse.clock)
    warehouse.update_alert(alert_id, severity="high", needs_exec_outreach=False)
    build_crm_tasks(warehouse.con, warehouse.clock + timedelta(hours=1))
    status = {t["task_id"]: t["status"] for t in warehouse.rows(TASK_SNAPSHOT)}
    assert status == {alert_id: "open", f"{alert_id}:exec": "closed"}


def _read_csv(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_csv_export_has_header_and_one_row_per_open_task(warehouse, tmp_path):
    warehouse.add_alert("acc-acme", severity="critical", priority=1, needs_exec_outreach=True)
    warehouse.add_alert("acc-globex", severity="high", priority=2)
    closed = warehouse.add_alert("acc-initech", severity="medium", priority=7)
    build_crm_tasks(warehouse.con, warehouse.clock)
    warehouse.update_alert(closed, status="resolved")
    build_crm_tasks(warehouse.con, warehouse.clock)

    path = tmp_path / "exports" / "tasks.csv"
    assert export_crm_tasks_csv(warehouse.con, path) == 3

    header, *rows = _read_csv(path)
    assert header[:3] == ["task_id", "task_type", "alert_id"]
    assert {"subject", "description", "due_at_utc", "priority", "crm_priority", "owner_email"} <= set(header)
    assert len(rows) == 3
    records = [dict(zip(header, row, strict=True)) for row in rows]
    assert [r["priority"] for r in records] == ["1", "1", "2"]
    assert closed not in {r["alert_id"] for r in records}
    assert records[0]["due_at_utc"] == "2026-02-28 06:00:00"
    assert "\n" in records[0]["description"]  # multi-line descriptions survive quoting


def test_csv_keeps_hostile_names_and_defuses_formulas(warehouse, tmp_path):
    warehouse.add_alert("acc-acme", account_name='O\'Brien & Co, "Ltd"')
    warehouse.add_alert("acc-globex", account_name='=HYPERLINK("http://evil")')
    build_crm_tasks(warehouse.con, warehouse.clock)
    path = tmp_path / "tasks.csv"
    export_crm_tasks_csv(warehouse.con, path)

    header, *rows = _read_csv(path)
    names = {dict(zip(header, row, strict=True))["account_name"] for row in rows}
    assert names == {'O\'Brien & Co, "Ltd"', '\'=HYPERLINK("http://evil")'}


def test_write_crm_tasks_exports_to_the_exports_dir(warehouse):
    warehouse.add_alert("acc-acme", severity="critical", priority=1)
    summary = write_crm_tasks(warehouse.con, warehouse.settings)  # clock from the change tables

    path = warehouse.settings.exports_dir / "crm_tasks.csv"
    assert summary.export_path == str(path) and summary.exported == 1
    assert len(_read_csv(path)) == 2
    (task,) = warehouse.rows(TASK_SNAPSHOT)
    assert task["created_at"] == warehouse.clock


def test_export_reads_a_read_only_warehouse(warehouse, tmp_path):
    warehouse.add_alert("acc-acme")
    build_crm_tasks(warehouse.con, warehouse.clock)
    warehouse.con.close()  # the CLI exports from a read-only connection
    with connect(warehouse.path, read_only=True) as con:
        assert export_crm_tasks_csv(con, tmp_path / "tasks.csv") == 1
    warehouse.con = duckdb.connect(str(warehouse.path))  # for the fixture's teardown


def test_export_without_tasks_table_says_what_to_do(warehouse, tmp_path):
    with pytest.raises(HealthwatchError, match=r"alerts\.crm_tasks"):
        export_crm_tasks_csv(warehouse.con, tmp_path / "tasks.csv")
    with pytest.raises(HealthwatchError, match="unknown CRM export format"):
        export_crm_tasks_csv(warehouse.con, tmp_path / "tasks.csv", export_format="nope")


SALESFORCE_COLUMNS = [
    "Subject",
    "Description",
    "ActivityDate",
    "Priority",
    "Status",
    "Type",
    "OwnerId",
    "WhatId",
    "IsReminderSet",
    "ReminderDateTime",
    "Healthwatch_Task_Id__c",
]
HUBSPOT_COLUMNS = [
    "Task Title",
    "Notes",
    "Due Date",
    "Priority",
    "Status",
    "Task Type",
    "Task Owner",
    "Associated Company",
    "Company Record ID",
    "Healthwatch Task ID",
]


def _records(path):
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return reader.fieldnames, list(reader)


def _two_tasks(warehouse):
    warehouse.add_alert("acc-acme", severity="critical", priority=1, alert_type="payment_failure")
    warehouse.add_alert("acc-initech", severity="medium", priority=5, account_name='=cmd|"/c calc"!A1, "Ltd"')
    build_crm_tasks(warehouse.con, warehouse.clock)


def test_salesforce_csv_has_data_loaders_task_fields(warehouse, tmp_path):
    _two_tasks(warehouse)
    path = tmp_path / "salesforce.csv"

    assert (
        export_crm_tasks_csv(
            warehouse.con, path, "salesforce", owner_ids={"ana@example.com": "005000000000001AAA"}
        )
        == 2
    )

    header, records = _records(path)
    assert header == SALESFORCE_COLUMNS
    acme, initech = records
    assert acme["Subject"] == "[P1] Payment failure — Acme Corp"
    assert "Playbook: Call the champion" in acme["Description"] and "\n" in acme["Description"]
    assert (acme["ActivityDate"], acme["Priority"], acme["Status"]) == ("2026-02-28", "High", "Not Started")
    assert (acme["Type"], acme["WhatId"], acme["OwnerId"]) == ("Other", "acc-acme", "005000000000001AAA")
    assert (acme["IsReminderSet"], acme["ReminderDateTime"]) == ("true", "2026-02-28T06:00:00+00:00")
    assert acme["Healthwatch_Task_Id__c"] == "alert-001"
    assert (initech["Priority"], initech["OwnerId"]) == ("Normal", "")  # Bo is not in the owner map
    assert initech["Subject"].startswith("[P5] Usage drop — =cmd")  # not at the cell's start: harmless


def test_hubspot_csv_has_the_import_tools_task_properties(warehouse, tmp_path):
    _two_tasks(warehouse)
    path = tmp_path / "hubspot.csv"

    export_crm_tasks_csv(warehouse.con, path, "hubspot")

    header, records = _records(path)
    assert header == HUBSPOT_COLUMNS
    acme, initech = records
    assert acme["Task Title"] == "[P1] Payment failure — Acme Corp"
    assert (acme["Due Date"], acme["Priority"], acme["Status"], acme["Task Type"]) == (
        "2026-02-28 06:00",
        "High",
        "Not started",
        "To-do",
    )
    assert (acme["Task Owner"], acme["Associated Company"], acme["Company Record ID"]) == (
        "ana@example.com",
        "Acme Corp",
        "acc-acme",
    )
    assert acme["Healthwatch Task ID"] == "alert-001" and "Why:" in acme["Notes"]
    assert initech["Priority"] == "Medium"  # HubSpot has no "Normal"
    assert initech["Associated Company"] == '\'=cmd|"/c calc"!A1, "Ltd"'  # formula defused, commas quoted


def test_owner_map_file(tmp_path):
    from delivery.crm_tasks import load_owner_map

    path = tmp_path / "owners.csv"
    path.write_text("email,crm_user_id\nAna@Example.com,005A\n,\n")
    assert load_owner_map(path) == {"ana@example.com": "005A"}
    path.write_text("mail,id\n")
    with pytest.raises(HealthwatchError, match="email and crm_user_id"):
        load_owner_map(path)


def test_pipeline_writes_each_requested_format(warehouse):
    _two_tasks(warehouse)
    write_crm_tasks(warehouse.con, warehouse.settings, export_formats=("plain", "salesforce", "hubspot"))
    names = sorted(p.name for p in warehouse.settings.exports_dir.iterdir())
    assert names == ["crm_tasks.csv", "crm_tasks_hubspot.csv", "crm_tasks_salesforce.csv"]


def _open_task_content(warehouse) -> dict[str, tuple]:
    return {
        t["task_id"]: tuple(t[c] for c in _CONTENT_COLUMNS)
        for t in warehouse.rows("select * from alerts.crm_tasks where status = 'open'")
    }


def test_only_changed_alerts_are_rendered_and_the_tasks_equal_a_full_render(warehouse):
    # Each run renders only the alerts whose inputs changed; after every kind of change the open
    # tasks must be exactly what rendering every actionable alert gives.
    acme = warehouse.add_alert("acc-acme", severity="critical", priority=1, needs_exec_outreach=True)
    globex = warehouse.add_alert("acc-globex", severity="medium", priority=5)
    hooli = warehouse.add_alert("acc-hooli", severity="high", priority=3)
    first = build_crm_tasks(warehouse.con, warehouse.clock)
    assert (first.rendered, first.created) == (3, 4)

    later = warehouse.clock + timedelta(hours=1)
    changes = [
        lambda: warehouse.update_alert(globex, reason="Seats fell to 30%."),
        lambda: warehouse.update_alert(globex, evidence='{"metric": "seats", "current": 3}'),
        lambda: warehouse.update_alert(acme, drivers='[{"feature": "nps", "sentence": "NPS 2"}]'),
        lambda: warehouse.update_alert(hooli, playbook="Book a QBR."),
        lambda: warehouse.update_alert(hooli, arr=1.5e6, segment="smb", account_name="Hooli XYZ"),
        lambda: warehouse.update_alert(acme, health_score=12.0, churn_probability=0.9, model_version="v4"),
        lambda: warehouse.update_alert(globex, sla_due_at=later + timedelta(hours=2)),
        lambda: warehouse.update_alert(globex, owner_id="csm-bo", owner_name="Bo Chen"),
        lambda: warehouse.con.execute("update signals.team_members set email = 'bo@new.example.com' where member_id = 'csm-bo'"),
        lambda: warehouse.con.execute("update signals.team_members set timezone = 'Asia/Tokyo' where member_id = 'csm-ana'"),
        lambda: warehouse.con.execute("update signals.team_members set email = 'lee@new.example.com' where member_id = 'mgr-lee'"),
        lambda: warehouse.update_alert(acme, manager_id="mgr-max"),
        lambda: warehouse.update_alert(acme, needs_exec_outreach=False),
        lambda: warehouse.update_alert(hooli, status="acknowledged", acknowledged_at=later),
        lambda: warehouse.update_alert(hooli, severity="low"),
        lambda: warehouse.update_alert(hooli, severity="high", priority=2),
        lambda: warehouse.update_alert(acme, status="resolved", resolved_at=later),
        lambda: warehouse.update_alert(acme, status="open", needs_exec_outreach=True),
        lambda: warehouse.add_alert("acc-initech", severity="high", priority=4),
    ]  # fmt: skip
    for step, change in enumerate(changes):
        change()
        summary = build_crm_tasks(warehouse.con, later + timedelta(minutes=step))
        full = {
            row["task_id"]: tuple(row[c] for c in _CONTENT_COLUMNS) for row in desired_tasks(warehouse.con)
        }
        assert _open_task_content(warehouse) == full, f"change {step}"
        assert summary.open_tasks == len(full)
        assert summary.created + summary.updated + summary.unchanged == len(full), f"change {step}"
        if step < 8:  # one alert changed: one rendered (team changes re-render their members' alerts)
            assert summary.rendered == 1, f"change {step}"

    # Nothing changed: nothing is rendered, nothing is updated.
    before = warehouse.rows(TASK_SNAPSHOT)
    again = build_crm_tasks(warehouse.con, later + timedelta(days=1))
    assert (again.rendered, again.created, again.updated, again.closed) == (0, 0, 0, 0)
    assert again.unchanged == again.open_tasks == len(before)
    assert warehouse.rows(TASK_SNAPSHOT) == before
