"""The alert engine: rules (alert_rules.yml) → evaluation over signal rows → severity → priority →
owner and routing → SLA → dedupe and lifecycle in `alerts.health_alerts`.

Dagster-free; the entry point is `alerts.engine.evaluate_alerts`. Modules:
`types` (vocabularies), `conditions` (per-type thresholds and evaluators), `rules` (the YAML
model), `evaluate` (one row against the rules), `priority`, `sla`, `routing`, `keys`,
`lifecycle` (pure row transitions), `schema` (the table contract), `engine` (SQL + writes).
"""
