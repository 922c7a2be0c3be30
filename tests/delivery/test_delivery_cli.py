"""`healthwatch send` and `healthwatch export crm-tasks --format ...` as a person runs them:
a subprocess, settings and secrets from the environment, SendGrid on a loopback server."""

import csv
import os
import subprocess
import sys
from pathlib import Path

from delivery.pipeline import queue_critical_alerts, queue_digests, write_crm_tasks

HEALTHWATCH = Path(sys.executable).parent / "healthwatch"
API_KEY = "SG.cli-key-0123456789abcdef"


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HEALTHWATCH_") and k not in {"SENDGRID_API_KEY", "DAGSTER_HOME"}
    }
    return subprocess.run(
        [str(HEALTHWATCH), *args],
        env=base | env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _queued(warehouse) -> int:
    warehouse.add_alert("acc-acme", severity="critical", priority=1)
    warehouse.add_alert("acc-initech", severity="high", priority=4)
    write_crm_tasks(warehouse.con, warehouse.settings)
    queued = queue_critical_alerts(warehouse.con, warehouse.settings) + queue_digests(
        warehouse.con, warehouse.settings
    )
    warehouse.con.close()  # the CLI opens the warehouse itself
    return queued


def test_send_delivers_the_outbox_once(warehouse, sendgrid_server, tmp_path):
    queued = _queued(warehouse)
    env = {
        "HEALTHWATCH_WAREHOUSE": str(warehouse.path),
        "SENDGRID_API_KEY": API_KEY,
        "HEALTHWATCH_SENDGRID_HOST": sendgrid_server.host,
    }

    first = _cli("send", env=env, cwd=tmp_path)
    second = _cli("send", env=env, cwd=tmp_path)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    ids = sendgrid_server.accepted_ids()
    assert len(ids) == queued == 3 + 2 and len(set(ids)) == len(ids)  # 3 critical mails, 2 digests
    assert "sent 5" in first.stdout and "nothing due" in second.stdout
    assert API_KEY not in first.stdout + first.stderr + second.stdout + second.stderr
    assert all(r.headers["Authorization"] == f"Bearer {API_KEY}" for r in sendgrid_server.requests)


def test_send_without_a_key_renders_files(warehouse, sendgrid_server, tmp_path):
    queued = _queued(warehouse)

    result = _cli("send", env={"HEALTHWATCH_WAREHOUSE": str(warehouse.path)}, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert sendgrid_server.requests == []
    assert len(list(warehouse.settings.outbox_dir.glob("*.html"))) == queued


def test_export_writes_each_crms_import_file(warehouse, tmp_path):
    _queued(warehouse)
    env = {"HEALTHWATCH_WAREHOUSE": str(warehouse.path)}
    expected = {
        "salesforce": ("Subject", "ActivityDate", "Priority", "Status", "WhatId", "Healthwatch_Task_Id__c"),
        "hubspot": ("Task Title", "Due Date", "Priority", "Status", "Task Owner", "Healthwatch Task ID"),
    }
    for fmt, columns in expected.items():
        result = _cli("export", "crm-tasks", "--format", fmt, env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        path = warehouse.settings.exports_dir / f"crm_tasks_{fmt}.csv"
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
        assert set(columns) <= set(reader.fieldnames or ())
        # The critical alert's task and the high alert's (no exec-sponsor outreach asked for).
        assert len(rows) == 2, rows

    bad = _cli("export", "crm-tasks", "--format", "pipedrive", env=env, cwd=tmp_path)
    assert bad.returncode == 2 and "salesforce" in bad.stderr and "Traceback" not in bad.stderr
