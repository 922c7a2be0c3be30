import hashlib

import pytest

from delivery.outbox import Mail, deliver, deliver_with, enqueue, mail_id


def _mail(recipient_id="csm-ana", period="2026-02-27", subject="hello") -> Mail:
    return Mail(
        kind="daily_digest",
        recipient_id=recipient_id,
        recipient_email=f"{recipient_id}@example.com",
        period=period,
        subject=subject,
        html_body=f"<p>{subject}</p>",
        text_body=subject,
    )


def test_mail_id_is_deterministic():
    expected = hashlib.sha256(b"csm-ana|daily_digest|2026-02-27").hexdigest()[:20]
    assert mail_id("csm-ana", "daily_digest", "2026-02-27") == expected == _mail().mail_id
    assert _mail(period="2026-02-28").mail_id != expected


def test_outbox_never_doubles_a_mail(warehouse):
    con, outbox_dir = warehouse.con, warehouse.settings.outbox_dir

    assert enqueue(con, [_mail(), _mail()]) == 1  # duplicates within one batch too
    assert enqueue(con, [_mail(subject="changed")]) == 0
    first = deliver(con, warehouse.settings)
    second = deliver(con, warehouse.settings)
    assert enqueue(con, [_mail()]) == 0
    third = deliver(con, warehouse.settings)

    (row,) = warehouse.rows("select * from alerts.email_outbox")
    assert (first.rendered, second.attempted, third.attempted) == (1, 0, 0)
    assert row["status"] == "rendered"
    assert row["subject"] == "hello"  # the first enqueue wins
    assert row["rendered_path"] == str(outbox_dir / f"{row['mail_id']}.html")
    assert sorted(p.name for p in outbox_dir.iterdir()) == [f"{row['mail_id']}.html", f"{row['mail_id']}.txt"]
    assert (outbox_dir / f"{row['mail_id']}.html").read_text() == "<p>hello</p>"
    assert (outbox_dir / f"{row['mail_id']}.txt").read_text() == "hello"
    assert row["provider_message_id"] is None and row["sent_at"] is None


def test_a_sent_mail_is_never_enqueued_again(warehouse):
    con = warehouse.con
    enqueue(con, [_mail()])
    con.execute("update alerts.email_outbox set status = 'sent', provider_message_id = 'm-1'")

    assert enqueue(con, [_mail(subject="again")]) == 0
    assert deliver(con, warehouse.settings).attempted == 0
    (row,) = warehouse.rows("select status, subject, provider_message_id from alerts.email_outbox")
    assert row == {"status": "sent", "subject": "hello", "provider_message_id": "m-1"}


def test_each_recipient_and_period_is_its_own_mail(warehouse):
    mails = [_mail("csm-ana"), _mail("csm-bo"), _mail("csm-ana", period="2026-02-28")]
    assert enqueue(warehouse.con, mails) == 3
    assert deliver(warehouse.con, warehouse.settings).rendered == 3
    assert len(list(warehouse.settings.outbox_dir.glob("*.html"))) == 3


class _CrashingTransport:
    claims = True

    def send(self, mail):
        raise KeyboardInterrupt  # the process dies while the request is in flight


def test_a_crash_mid_send_leaves_the_mail_claimed_not_resent(warehouse):
    enqueue(warehouse.con, [_mail()])
    with pytest.raises(KeyboardInterrupt):
        deliver_with(warehouse.con, _CrashingTransport())

    (row,) = warehouse.rows("select status, attempts from alerts.email_outbox")
    assert row == {"status": "sending", "attempts": 1}
    # It may have reached the provider: it is not picked up again on its own.
    assert deliver(warehouse.con, warehouse.settings).attempted == 0


def test_rendered_mails_are_recorded_when_a_later_one_cannot_be_written(warehouse):
    """Files' outcomes are recorded together at the end of the run: an error on the third mail
    still records the two rendered before it, and the next run renders only the rest."""
    con, outbox_dir = warehouse.con, warehouse.settings.outbox_dir
    mails = [_mail(period=f"2026-02-{day:02d}") for day in range(1, 6)]
    enqueue(con, mails)
    order = [
        r["mail_id"]
        for r in warehouse.rows("select mail_id from alerts.email_outbox order by created_at, mail_id")
    ]
    outbox_dir.mkdir(parents=True, exist_ok=True)
    (outbox_dir / f"{order[2]}.html").mkdir()  # a directory where its file should go: the write fails

    with pytest.raises(IsADirectoryError):
        deliver(con, warehouse.settings)
    status = dict(con.execute("select mail_id, status from alerts.email_outbox").fetchall())
    assert [status[m] for m in order] == ["rendered", "rendered", "pending", "pending", "pending"]

    (outbox_dir / f"{order[2]}.html").rmdir()
    assert deliver(con, warehouse.settings).rendered == 3
    rows = warehouse.rows("select mail_id, status, rendered_path from alerts.email_outbox")
    assert all(
        r["status"] == "rendered" and r["rendered_path"] == str(outbox_dir / f"{r['mail_id']}.html")
        for r in rows
    )
