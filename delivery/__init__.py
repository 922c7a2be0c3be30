"""Delivery: CRM tasks, email digests and the outbox every mail goes through.

Dagster-free (DESIGN.md, layout): the Dagster assets and the CLI call `delivery.pipeline`.
Every mail is rendered by `delivery.render` from the templates beside this file and recorded in
`alerts.email_outbox` by `delivery.outbox` before anything is sent.
"""
