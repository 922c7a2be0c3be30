"""Render what a CSM and a manager see to PNG with headless Chromium, for the README.

    .venv/bin/python scripts/render_digests.py [--warehouse data/warehouse.duckdb] [--out docs]

Reads the demo warehouse (read-only) when it exists, else builds the mails from a small built-in
sample team. Writes `docs/digest-daily.png`, `docs/digest-weekly.png` and
`docs/critical-alert.png` (and the HTML beside them under `--html-dir` when given). Needs
Chromium: `/usr/bin/chromium` or `chromium` on PATH (Debian: `apt-get install chromium`).
Nothing is sent, and Chromium runs with networking off.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from delivery.critical import build_critical_mails  # noqa: E402
from delivery.digest import build_daily_digests  # noqa: E402
from delivery.outbox import Mail  # noqa: E402
from delivery.weekly import build_weekly_digests  # noqa: E402
from healthwatch.batches import data_clock  # noqa: E402

WIDTH = 720
HEIGHTS = {"digest-daily": 2400, "digest-weekly": 3600, "critical-alert": 1600}
BACKGROUND = (242, 244, 247)  # the mails' page colour (#f2f4f7): trimmed off the bottom


def find_chromium(explicit: str | None = None) -> str:
    for candidate in (
        explicit,
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    raise SystemExit("chromium not found: install Debian's `chromium` package or pass --chromium PATH")


# --- a small sample world for machines without the demo warehouse ------------------------------

SAMPLE_CLOCK = datetime(2026, 3, 2, 9, 0)
SAMPLE_TEAM = [
    ("tm-ana", "Ana Ruiz", "ana@example.com", "csm", "tm-lee", "America/New_York"),
    ("tm-bo", "Bo Chen", "bo@example.com", "csm", "tm-lee", "Europe/Berlin"),
    ("tm-lee", "Lee Park", "lee@example.com", "manager", "tm-kim", "America/New_York"),
    ("tm-kim", "Kim Diaz", "kim@example.com", "vp", None, "America/New_York"),
]
SAMPLE_ALERTS = [
    # account, name, segment, arr, owner, type, severity, priority, reason, evidence, scores, playbook, due in h
    (
        "acc-1",
        "Northwind Traders",
        "enterprise",
        480_000,
        "tm-ana",
        "payment_failure",
        "critical",
        1,
        "2 failed payments in the last 7 days, the latest yesterday",
        {"metric": "payment_failures_7d", "current": 2, "baseline": 0, "window": 7},
        [78, 71, 58, 44],
        "Call the billing contact today and confirm the card on file; loop in finance if it fails again.",
        3,
    ),
    (
        "acc-2",
        "Globex Logistics",
        "mid_market",
        96_000,
        "tm-ana",
        "usage_drop",
        "high",
        2,
        "Logins fell 46% against this account's 4-week normal",
        {"metric": "logins_7d", "current": 61, "baseline": 113, "change": -0.46, "window": 7},
        [82, 80, 69, 63],
        "Ask the champion what changed; offer a 30-minute refresher for the new team members.",
        -5,
    ),
    (
        "acc-3",
        "Umbrella Health",
        "enterprise",
        620_000,
        "tm-ana",
        "renewal_risk",
        "medium",
        4,
        "Renewal in 41 days and the account is At-Risk, churn probability 34%",
        {"metric": "days_to_renewal", "current": 41},
        [70, 66, 64, 61],
        "Book the renewal call now and bring a value summary for the sponsor.",
        30,
    ),
    (
        "acc-4",
        "Initech",
        "smb",
        14_000,
        "tm-bo",
        "ticket_spike",
        "high",
        3,
        "6 support tickets in the last 7 days (3.0× this account's normal of 2)",
        {"metric": "tickets_7d", "current": 6, "baseline": 2, "change": 2.0, "window": 7},
        [74, 70, 62],
        "Read the open tickets, then call the admin with one summary and a fix date.",
        -26,
    ),
]
SAMPLE_DRIVERS = [
    {
        "feature": "payment_failures_90d",
        "value": 2,
        "contribution": 0.9,
        "sentence": "2 failed payments in 90 days",
    },
    {
        "feature": "logins_wow",
        "value": -0.46,
        "contribution": 0.6,
        "sentence": "logins −46% vs 4-week normal",
    },
    {"feature": "nps_last", "value": 5, "contribution": 0.3, "sentence": "last NPS answer 5 (detractor)"},
]


def sample_warehouse() -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse with the tables delivery reads, filled with the sample world."""
    from alerts.schema import create_table_sql

    con = duckdb.connect()
    for schema in ("alerts", "signals", "scoring", "cdc"):
        con.execute(f"create schema {schema}")
    con.execute(create_table_sql())
    con.execute(
        "create table signals.team_members (member_id varchar, name varchar, email varchar, role varchar, "
        "manager_id varchar, timezone varchar)"
    )
    con.executemany("insert into signals.team_members values (?, ?, ?, ?, ?, ?)", SAMPLE_TEAM)
    con.execute("create table signals.accounts (account_id varchar, csm_id varchar)")
    con.execute(
        "create table scoring.account_health_score_history (account_id varchar, scored_at timestamp, "
        "health_score double)"
    )
    con.execute(
        "create table alerts.rule_performance (alert_type varchar, segment varchar, precision double, alerts integer)"
    )
    con.executemany(
        "insert into alerts.rule_performance values (?, ?, ?, ?)",
        [
            ("payment_failure", "enterprise", 0.71, 14),
            ("usage_drop", "mid_market", 0.42, 31),
            ("ticket_spike", "smb", 0.38, 22),
            ("renewal_risk", "enterprise", None, 3),
        ],
    )
    team = {m[0]: m for m in SAMPLE_TEAM}
    for n, (
        account,
        name,
        segment,
        arr,
        owner,
        kind,
        severity,
        priority,
        reason,
        evidence,
        scores,
        playbook,
        due,
    ) in enumerate(SAMPLE_ALERTS):
        con.execute("insert into signals.accounts values (?, ?)", [account, owner])
        for i, score in enumerate(scores):
            con.execute(
                "insert into scoring.account_health_score_history values (?, ?, ?)",
                [account, SAMPLE_CLOCK - timedelta(days=len(scores) - 1 - i), score],
            )
        member = team[owner]
        notify = [owner, member[4], "tm-kim"] if severity == "critical" else [owner]
        con.execute(
            """
            insert into alerts.health_alerts (
                alert_id, dedup_key, account_id, account_name, segment, arr, alert_type, severity, priority,
                status, title, reason, evidence, churn_probability, health_score, health_class, drivers,
                model_version, playbook, owner_id, owner_name, owner_email, owner_timezone, notify_member_ids,
                manager_id, in_manager_digest, needs_exec_outreach, opened_at, last_seen_at, sla_due_at, updated_at
            ) values (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, 'v7', ?, ?, ?, ?, ?, ?, ?, true, ?, ?, ?, ?, ?)
            """,
            [
                f"sample-{n + 1:03d}",
                f"{account}:{kind}",
                account,
                name,
                segment,
                arr,
                kind,
                severity,
                priority,
                kind.replace("_", " ").capitalize(),
                reason,
                json.dumps(evidence),
                0.55 if severity == "critical" else 0.3,
                float(scores[-1]),
                "Critical" if scores[-1] < 50 else "At-Risk",
                json.dumps(SAMPLE_DRIVERS),
                playbook,
                owner,
                member[1],
                member[2],
                member[5],
                json.dumps(notify),
                member[4],
                severity == "critical",
                SAMPLE_CLOCK - timedelta(hours=8),
                SAMPLE_CLOCK,
                SAMPLE_CLOCK + timedelta(hours=due),
                SAMPLE_CLOCK,
            ],
        )
    return con


# --- choosing and rendering ------------------------------------------------------------------


def _pick(mails: list[Mail], want_items: int) -> Mail:
    """The mail whose length is closest to a readable screenshot (about `want_items` cards)."""
    return min(mails, key=lambda m: (abs(m.html_body.count("border-left:4px") - want_items), m.recipient_id))


def sample_mails(con: duckdb.DuckDBPyConnection, clock: datetime) -> dict[str, Mail]:
    daily = build_daily_digests(con, clock)
    weekly = build_weekly_digests(con, clock)
    critical = [m for m in build_critical_mails(con, clock, repeat=None) if m.channel == "email"]
    if not (daily and weekly and critical):
        raise SystemExit("the warehouse has no open alerts to show (need daily, weekly and critical mails)")
    owners = {m.recipient_id for m in daily}
    return {
        "digest-daily": _pick(daily, 4),
        "digest-weekly": max(weekly, key=lambda m: (m.html_body.count("<tr>"), m.recipient_id)),
        "critical-alert": next((m for m in critical if m.recipient_id in owners), critical[0]),
    }


def trim_bottom(path: Path, margin: int = 24) -> None:
    """Cut the empty page colour below the mail (Chromium shoots the whole window), and store
    the PNG with a small palette."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        width, height = rgb.size
        bottom = height
        pixels = rgb.load()
        for y in range(height - 1, -1, -1):
            if any(pixels[x, y] != BACKGROUND for x in range(0, width, 4)):
                bottom = y + 1
                break
        cropped = rgb.crop((0, 0, width, min(height, bottom + margin)))
        # A 64-colour palette keeps text crisp at a third of the size: the README stays light.
        cropped.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            path, optimize=True
        )


def screenshot(chromium: str, html: Path, png: Path, height: int) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
                f"--user-data-dir={profile}",
                f"--screenshot={png}",
                f"--window-size={WIDTH},{height}",
                html.as_uri(),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )
    trim_bottom(png)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=ROOT / "data" / "warehouse.duckdb")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--html-dir", type=Path, default=None, help="keep the rendered HTML here")
    parser.add_argument("--chromium", default=None)
    parser.add_argument(
        "--sample", action="store_true", help="use the built-in sample team, not the warehouse"
    )
    args = parser.parse_args(argv)

    chromium = find_chromium(args.chromium)
    if args.warehouse.exists() and not args.sample:
        con = duckdb.connect(str(args.warehouse), read_only=True)
        clock = data_clock(con)
        source = str(args.warehouse)
    else:
        con, clock, source = sample_warehouse(), SAMPLE_CLOCK, "the built-in sample team"
    try:
        mails = sample_mails(con, clock)
    finally:
        con.close()

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        html_dir = args.html_dir or Path(tmp)
        html_dir.mkdir(parents=True, exist_ok=True)
        for name, mail in mails.items():
            html = html_dir / f"{name}.html"
            html.write_text(mail.html_body, encoding="utf-8")
            png = args.out / f"{name}.png"
            screenshot(chromium, html, png, HEIGHTS[name])
            print(f"{png}  ({mail.kind} for {mail.recipient_id}: {mail.subject})")
    print(f"from {source}, data clock {clock:%Y-%m-%d %H:%M} UTC")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
