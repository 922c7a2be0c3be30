"""CSMs working the CRM tasks healthwatch wrote: they pick a task up, then close it with an outcome.

The simulator plays the CRM side of the feedback loop. Every alert task in `alerts.crm_tasks`
(delivery's rows, imported into the CRM) enters the CRM's `tasks` table; its owner acknowledges it
(`in_progress`) after a delay that follows its priority, then completes it with an outcome that
follows what really happens to the account (`sim.account_truth`): an account that churns soon
after is `escalated_to_churn`, one in a real decline or a bad week is `true_positive_resolved`,
a healthy account is mostly a `false_positive`. All of it is written as `cdc.crm_changes` rows,
so it comes back the way a real CRM's changes would. Decisions hash the task id: the same tasks
give the same changes, however often and in whatever steps the world is streamed.
"""

import hashlib
import json
from collections.abc import Collection
from datetime import date, datetime, time, timedelta

import duckdb

from healthwatch.warehouse import change_table, table_exists

TASKS = "alerts.crm_tasks"
TRUTH = "sim.account_truth"
# Hours from the task's creation to the CSM picking it up, by CRM priority band (1–3, 4–6, 7–9).
ACK_HOURS = {0: (1, 20), 1: (4, 60), 2: (12, 120)}
# Days from picking it up to closing it with an outcome.
WORK_DAYS = (1, 10)
CHURN_HORIZON_DAYS = 120


def _uniform(task_id: str, salt: str) -> float:
    digest = hashlib.sha256(f"{task_id}:{salt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def outcome_for(task_id: str, created: date, truth: dict) -> str:
    """What the CSM finds, given what really happens to the account."""
    draw = _uniform(task_id, "outcome")
    churn = truth.get("planned_churn_date") or truth.get("churned_on")
    if churn is not None and timedelta(0) <= churn - created <= timedelta(days=CHURN_HORIZON_DAYS):
        return "escalated_to_churn" if draw < 0.75 else "true_positive_resolved"
    onset = truth.get("decline_onset")
    if truth.get("archetype") == "decliner" and onset is not None and onset <= created + timedelta(days=30):
        return "true_positive_resolved" if draw < 0.85 else "false_positive"
    bad_week = truth.get("bad_week_start")
    if bad_week is not None and abs((bad_week - created).days) <= 14:
        return "true_positive_resolved" if draw < 0.5 else "false_positive"
    return "true_positive_resolved" if draw < 0.12 else "false_positive"


def work_tasks(con: duckdb.DuckDBPyConnection, through: date, accounts: Collection[str] | None = None) -> int:
    """Write the task changes CSMs made up to the end of `through`; returns change rows written.

    With `accounts`, only the tasks of those accounts are worked (the others wait for a later day)."""
    if not table_exists(con, TASKS) or not table_exists(con, TRUTH):
        return 0
    end = datetime.combine(through + timedelta(days=1), time())
    tasks = con.execute(
        f"""select t.task_id, t.alert_id, t.account_id, t.owner_id, t.subject, t.priority, t.created_at,
                   tr.archetype, tr.decline_onset, tr.planned_churn_date, tr.churned_on, tr.bad_week_start
        from {TASKS} as t left join {TRUTH} as tr using (account_id)
        where t.task_type = 'alert' and t.created_at < ? order by t.task_id""",
        [end],
    ).fetchall()
    target = change_table("crm")
    done = {
        (key, status)
        for key, status in con.execute(
            f"select key, after ->> 'status' from {target} where source_table = 'tasks'"
        ).fetchall()
    }
    rows: list[tuple] = []
    for task_id, alert_id, account_id, owner_id, subject, priority, created_at, *facts in tasks:
        if accounts is not None and account_id not in accounts:
            continue
        truth = dict(
            zip(
                ("archetype", "decline_onset", "planned_churn_date", "churned_on", "bad_week_start"),
                facts,
                strict=True,
            )
        )
        low, high = ACK_HOURS[min(2, (int(priority) - 1) // 3)]
        acked = created_at + timedelta(hours=low + (high - low) * _uniform(task_id, "ack"))
        closed = acked + timedelta(
            days=WORK_DAYS[0] + (WORK_DAYS[1] - WORK_DAYS[0]) * _uniform(task_id, "work")
        )
        outcome = outcome_for(task_id, created_at.date(), truth)
        base = {
            "task_id": task_id,
            "alert_id": alert_id,
            "account_id": account_id,
            "owner_id": owner_id,
            "subject": subject,
            "created_at": created_at,
        }
        steps = (
            ("open", None, created_at, "c"),
            ("in_progress", None, acked, "u"),
            ("completed", outcome, closed, "u"),
        )
        before = None
        for status, result, at, op in steps:
            after = {**base, "status": status, "outcome": result, "updated_at": at}
            if at < end and (task_id, status) not in done:
                rows.append((op, task_id, _json(before), _json(after), at.replace(microsecond=0)))
            before = after
    if not rows:
        return 0
    rows.sort(key=lambda r: (r[4], r[1]))
    (last,) = con.execute(f"select coalesce(max(seq), 0) from {target}").fetchone()
    con.executemany(
        f"insert into {target} values (?, 'tasks', ?, ?, ?, ?, ?, ? + interval 5 second)",
        [
            (last + i + 1, op, key, before, after, ts, ts)
            for i, (op, key, before, after, ts) in enumerate(rows)
        ],
    )
    return len(rows)


def _json(image: dict | None) -> str | None:
    if image is None:
        return None
    return json.dumps(
        {k: (v.isoformat(timespec="seconds") if isinstance(v, datetime) else v) for k, v in image.items()}
    )
