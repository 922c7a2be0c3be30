"""The pipeline's delivery assets, materialized by Dagster on the small warehouse, with endpoints
and secrets from the environment: two full passes deliver every message exactly once, and each
materialization reports rows, mails by status and kind, and timings."""

from collections import Counter

import dagster as dg
import pytest

from pipelines.assets.delivery import critical_notifications, crm_tasks, email_outbox, weekly_digests
from pipelines.resources import HealthwatchResource

API_KEY = "SG.asset-key-0123456789abcdef"
ASSETS = [crm_tasks, critical_notifications, email_outbox, weekly_digests]


@pytest.fixture
def endpoints(monkeypatch, sendgrid_server, slack_server, hubspot_server):
    monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)
    monkeypatch.setenv("HEALTHWATCH_SENDGRID_HOST", sendgrid_server.host)
    monkeypatch.setenv("HEALTHWATCH_SLACK_WEBHOOK_URL", slack_server.webhook_url)
    monkeypatch.setenv("HEALTHWATCH_CRM_TOKEN", hubspot_server.TOKEN)
    monkeypatch.setenv("HEALTHWATCH_CRM_BASE_URL", hubspot_server.url)
    return sendgrid_server, slack_server, hubspot_server


def _materialize(warehouse) -> dict[str, dict]:
    result = dg.materialize(
        ASSETS, resources={"healthwatch": HealthwatchResource(warehouse=str(warehouse.path))}
    )
    assert result.success
    return {
        event.asset_key.to_user_string(): {
            k: v.value for k, v in event.step_materialization_data.materialization.metadata.items()
        }
        for event in result.get_asset_materialization_events()
    }


def test_two_materializations_deliver_each_message_once(warehouse, endpoints):
    sendgrid, slack, hubspot = endpoints
    warehouse.add_alert("acc-acme", severity="critical", priority=1, needs_exec_outreach=True)
    warehouse.add_alert("acc-initech", severity="high", priority=4)
    warehouse.add_alert("acc-hooli", severity="medium", priority=3)
    warehouse.con.close()  # the assets open the warehouse themselves

    first = _materialize(warehouse)
    second = _materialize(warehouse)

    counts = Counter(sendgrid.accepted_ids())
    # 1 critical alert × CSM, manager, VP; 3 CSM digests (Ana, Bo, Cy); 2 manager digests (Lee, Max).
    assert len(counts) == 3 + 3 + 2 and set(counts.values()) == {1}
    assert len(slack.requests) == 1
    assert len(hubspot.objects) == 4 and set(hubspot.updates.values()) == {1}  # 3 tasks + exec outreach
    assert not any(API_KEY in str(r.body) for r in sendgrid.requests)

    critical = first["delivery/critical_notifications"]
    assert critical["queued"] == 4 and critical["sent"] == 4  # 3 mails + 1 Slack message
    assert critical["transport"] == "sendgrid" and critical["slack"] == "on"
    by_kind = critical["mails_by_kind"]  # the whole outbox: the assets' order is Dagster's
    assert by_kind["critical_alert"] == {"sent": 3} and by_kind["critical_alert (slack)"] == {"sent": 1}
    assert first["alerts/email_outbox"]["queued"] == 3
    assert first["delivery/weekly_digests"]["queued"] == 2
    final = second["delivery/weekly_digests"]
    assert final["outbox_rows"] == 9 and final["mails_by_status"] == {"sent": 9}
    assert all(isinstance(m["send_seconds"], float) for m in first.values() if "send_seconds" in m)
    tasks = first["alerts/crm_tasks"]
    assert tasks["rows"] == 4 and tasks["push"]["pushed"] == 4
    for meta in second.values():
        assert meta.get("queued", 0) == 0 and meta.get("attempted", 0) == 0
    assert second["alerts/crm_tasks"]["push"]["requests"] == 0
    for name in ("crm_tasks.csv", "crm_tasks_salesforce.csv", "crm_tasks_hubspot.csv"):
        assert (warehouse.settings.exports_dir / name).exists()


def test_without_endpoints_mails_are_rendered_to_files(warehouse, monkeypatch):
    for name in ("SENDGRID_API_KEY", "HEALTHWATCH_SLACK_WEBHOOK_URL", "HEALTHWATCH_CRM_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    warehouse.add_alert("acc-acme", severity="critical", priority=1)
    warehouse.con.close()

    meta = _materialize(warehouse)

    critical = meta["delivery/critical_notifications"]
    assert critical["transport"] == "files" and critical["slack"] == "off"
    assert meta["alerts/crm_tasks"]["push"] == "off"
    assert meta["delivery/weekly_digests"]["mails_by_status"] == {"rendered": 3 + 1 + 2}
    assert len(list(warehouse.settings.outbox_dir.glob("*.html"))) == 6
