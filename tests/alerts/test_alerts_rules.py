"""alert_rules.yml: the shipped file, segment overrides, and the errors a bad file gives."""

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from alerts.conditions import ALERT_TYPES, RenewalRiskThresholds, UsageDropThresholds
from alerts.rules import load_alert_rules, resolve_rule
from healthwatch.errors import HealthwatchError

RULES_FILE = Path(__file__).resolve().parents[2] / "alert_rules.yml"
PLAYBOOKS_FILE = RULES_FILE.parent / "playbooks.yml"
SHIPPED = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))


def write_rules(tmp_path: Path, mutate) -> Path:
    """The shipped file, changed by `mutate`, beside a copy of the shipped playbooks it links to."""
    data = copy.deepcopy(SHIPPED)
    mutate(data)
    path = tmp_path / "alert_rules.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    shutil.copy(PLAYBOOKS_FILE, tmp_path / "playbooks.yml")
    return path


def test_shipped_file_configures_every_type_with_article_defaults() -> None:
    rules = load_alert_rules(RULES_FILE)
    assert len(ALERT_TYPES) == 17
    assert set(rules.enabled_types()) == set(ALERT_TYPES)
    expected = {
        "usage_drop": "medium",
        "feature_abandonment": "medium",
        "product_abandonment": "high",
        "api_degradation": "medium",
        "nps_drop": "medium",
        "survey_nonresponse": "low",
        "champion_dark": "high",
        "stakeholder_turnover": "high",
        "ticket_spike": "high",
        "escalation": "medium",
        "negative_sentiment": "medium",
        "payment_failure": "high",
        "cancellation_request": "critical",
        "renewal_risk": "medium",
        "procurement_freeze": "high",
        "health_class_change": "medium",
        "expansion_signal": "low",
    }
    assert {name: rules.rule(name).severity for name in ALERT_TYPES} == expected
    usage = rules.effective("usage_drop", "smb")
    assert usage.thresholds == UsageDropThresholds(
        drop=0.30, max_robust_z=-2.0, min_baseline_days=21, min_baseline=5
    )
    assert [(t.drop, t.min_days_below, s) for t, s in usage.escalations] == [
        (0.5, 0, "high"),
        (0.3, 7, "high"),
    ]
    assert rules.effective("usage_drop", "enterprise").thresholds.drop == 0.25
    # every type links to a playbook with steps and an email template
    for name in ALERT_TYPES:
        effective = rules.effective(name, None)
        assert effective.playbook and effective.playbook_steps
        assert rules.playbooks is not None and rules.playbooks.playbooks[effective.playbook_id].email.body
    # events that create the churn decision are never gated; behavioural rules are
    assert rules.effective("payment_failure", None).model_gate.action == "none"
    assert rules.effective("usage_drop", None).model_gate.action == "downgrade"
    assert rules.effective("negative_sentiment", None).model_gate.action == "hold"
    assert rules.sla_business_hours.low == 40 and rules.sla_business_hours.critical == 4
    assert rules.routing.critical.notify == ("csm", "manager", "vp") and rules.routing.critical.exec_outreach


def test_usage_drop_playbook_offers_training_and_guides() -> None:
    rules = load_alert_rules(RULES_FILE)
    assert rules.playbooks is not None
    subject, body = rules.playbooks.render_email(
        "usage_drop", {"account_name": "Globex", "csm_name": "Ana", "csm_email": "ana@example.com"}
    )
    assert "Globex" in subject
    assert "training" in body and "help-centre" in body and "Ana (ana@example.com)" in body


def test_a_rule_linking_to_a_missing_playbook_is_named(tmp_path: Path) -> None:
    path = write_rules(tmp_path, lambda d: d["rules"]["usage_drop"].update(playbook="no_such_book"))
    with pytest.raises(HealthwatchError, match=r"rules\.usage_drop\.playbook: no playbook 'no_such_book'"):
        load_alert_rules(path)


def test_segment_override_merges_thresholds_and_severity(tmp_path: Path) -> None:
    def mutate(d: dict) -> None:
        d["rules"]["usage_drop"]["segments"] = {
            "enterprise": {"severity": "high", "thresholds": {"drop": 0.2}},
            "smb": {"enabled": False},
        }

    rules = load_alert_rules(write_rules(tmp_path, mutate))
    enterprise = rules.effective("usage_drop", "enterprise")
    assert enterprise.severity == "high"
    assert enterprise.thresholds.drop == 0.2 and enterprise.thresholds.min_baseline_days == 21
    # escalations are applied on top of the segment's thresholds
    assert [(t.drop, s) for t, s in enterprise.escalations] == [(0.5, "high"), (0.2, "high")]
    assert rules.effective("usage_drop", "mid_market").severity == "medium"
    assert rules.effective("usage_drop", "mid_market").thresholds.drop == 0.3
    assert rules.effective("usage_drop", "smb").enabled is False
    assert rules.effective("usage_drop", None).enabled is True  # unknown segment: the base rule


def test_resolve_rule_is_a_pure_merge() -> None:
    rule = load_alert_rules(RULES_FILE).rule("renewal_risk")
    enterprise = resolve_rule("renewal_risk", rule, "enterprise")
    assert enterprise.thresholds == RenewalRiskThresholds(max_days_to_renewal=120)
    assert enterprise.escalations[0][0].max_days_to_renewal == 60
    assert resolve_rule("renewal_risk", rule, "smb").thresholds.max_days_to_renewal == 90


BAD_FILES = [
    (
        lambda d: d["rules"]["payment_failure"].update(severty="high"),
        "rules.payment_failure.severty",
        "unknown key",
    ),
    (
        lambda d: d["rules"]["payment_failure"].update(severity="urgent"),
        "rules.payment_failure.severity",
        "'critical', 'high', 'medium' or 'low'",
    ),
    (
        lambda d: d["rules"].update(nps_bomb={"severity": "low"}),
        "nps_bomb",
        "known types: api_degradation, cancellation_request",
    ),
    (
        lambda d: d["rules"]["usage_drop"]["thresholds"].update(dropp=0.2),
        "rules.usage_drop.thresholds.dropp",
        "unknown key",
    ),
    (
        lambda d: d["rules"]["usage_drop"]["thresholds"].update(drop=1.5),
        "rules.usage_drop.thresholds.drop",
        "less than 1",
    ),
    (
        lambda d: d["rules"]["usage_drop"].update(segments={"startup": {"severity": "low"}}),
        "rules.usage_drop.segments.startup",
        "'enterprise', 'mid_market' or 'smb'",
    ),
    (
        lambda d: d["rules"]["usage_drop"].update(segments={"smb": {"thresholds": {"metric": "pageviews"}}}),
        "rules.usage_drop.segments.smb.thresholds.metric",
        "logins_7d",
    ),
    (
        lambda d: d["rules"]["usage_drop"]["escalations"][0].update(severity="low"),
        "rules.usage_drop",
        "must be above the rule's severity",
    ),
    (
        lambda d: d["rules"]["renewal_risk"]["escalations"][0]["when"].update(min_days_to_renewal=100),
        "rules.renewal_risk",
        "escalations.0.when",
    ),
    (
        lambda d: d["rules"]["usage_drop"].update(title="Usage {foo}"),
        "rules.usage_drop.title",
        "unknown placeholder {foo}",
    ),
    (lambda d: d["rules"].pop("champion_dark"), "rules.champion_dark", "Field required"),
    (lambda d: d["routing"]["high"].update(notify=["manager"]), "routing.high.notify", "CSM"),
    (lambda d: d["sla_business_hours"].update(critical=0), "sla_business_hours.critical", "greater than 0"),
    (
        lambda d: d["rules"]["health_class_change"]["thresholds"].update(to_classes=["Healthy"]),
        "rules.health_class_change.thresholds.to_classes",
        "worsening",
    ),
]


@pytest.mark.parametrize(("mutate", "key", "allowed"), BAD_FILES)
def test_bad_file_names_the_file_the_key_and_what_is_allowed(
    tmp_path: Path, mutate, key: str, allowed: str
) -> None:
    path = write_rules(tmp_path, mutate)
    with pytest.raises(HealthwatchError) as info:
        load_alert_rules(path)
    message = str(info.value)
    assert str(path) in message
    assert key in message
    assert allowed in message


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(HealthwatchError, match="not found"):
        load_alert_rules(tmp_path / "nope.yml")
    broken = tmp_path / "broken.yml"
    broken.write_text("rules: [unclosed\n", encoding="utf-8")
    with pytest.raises(HealthwatchError, match="not valid YAML"):
        load_alert_rules(broken)


def test_alert_package_does_not_import_dagster() -> None:
    code = (
        "import sys, alerts.engine, alerts.rules, alerts.sla, alerts.routing, alerts.priority; "
        "sys.exit(1 if any(m.split('.')[0] == 'dagster' for m in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
