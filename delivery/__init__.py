"""Delivery: CRM tasks (table, CSV exports, push), mails and Slack messages through one outbox.

Dagster-free (DESIGN.md, layout): the Dagster assets and the CLI call `delivery.pipeline`.
Every message is rendered by `delivery.render` from the templates beside this file and recorded
in `alerts.email_outbox` by `delivery.outbox` before anything is sent; SendGrid, Slack and the
CRM push share the retry discipline of `delivery.retry`.

| module | holds |
| --- | --- |
| `alert_view` | alerts as every channel shows them (optional columns read when present) |
| `digest`, `weekly`, `critical` | the daily CSM digest, the weekly manager digest, immediate critical mails (+ Slack) |
| `outbox` | the outbox table, claims, reconciliation, the file and SendGrid transports |
| `slack`, `crm_push`, `http_json` | the Slack webhook transport, the HubSpot-shaped tasks push, their JSON POST |
| `crm_tasks` | `alerts.crm_tasks` and its CSV exports (plain, Salesforce, HubSpot) |
| `retry` | classify, back-off, provider waits |
| `pipeline` | the functions assets and the CLI call |
"""
