"""A full disk under the outbox folder (mails rendered to files, no SendGrid key): the run fails
loudly, no mail is marked done without its file, and once there is room again every mail is
rendered exactly once."""

import subprocess
from pathlib import Path

import duckdb
import pytest

from healthwatch.errors import HealthwatchError
from pipelines.run import run_job


def _mount_tiny_tmpfs(folder: Path) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24k", "tmpfs", str(folder)], capture_output=True, check=False
    )
    return done.returncode == 0


def _outbox(warehouse) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return dict(con.execute("select status, count(*) from alerts.email_outbox group by 1").fetchall())


def test_a_full_outbox_disk_loses_no_mail(world_copy, dagster_instance, monkeypatch) -> None:
    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    outbox = world_copy.outbox_dir
    for old in outbox.glob("*"):
        old.unlink()
    with duckdb.connect(str(world_copy.warehouse)) as con:
        con.execute("delete from alerts.email_outbox")  # today's digests are queued afresh
    if not _mount_tiny_tmpfs(outbox):
        pytest.skip("mounting a tmpfs needs CAP_SYS_ADMIN (root in this container)")
    try:
        with pytest.raises(HealthwatchError, match="No space left on device"):
            run_job("digest_job", world_copy, instance=dagster_instance)
        status = _outbox(world_copy.warehouse)
        rendered = {p.stem for p in outbox.glob("*.html")}
        with duckdb.connect(str(world_copy.warehouse), read_only=True) as con:
            marked = {
                m
                for (m,) in con.execute(
                    "select mail_id from alerts.email_outbox where status = 'rendered'"
                ).fetchall()
            }
        assert status.get("pending", 0) > 0  # queued, not lost
        assert marked <= rendered  # nothing marked rendered without its file
    finally:
        subprocess.run(["umount", str(outbox)], check=True)

    run_job("digest_job", world_copy, instance=dagster_instance)  # room again
    status = _outbox(world_copy.warehouse)
    files = sorted(p.stem for p in outbox.glob("*.html"))
    assert set(status) == {"rendered"} and len(files) == len(set(files)) == status["rendered"]
