"""Start the Dagster daemon on a warehouse, with the CDC sensors running: what `dagster dev` does
for scheduling, without the web UI. Used by the latency benchmark and the end-to-end test."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from healthwatch.config import Settings
from healthwatch.errors import HealthwatchError
from pipelines.run import ensure_instance_config

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def daemon_env(settings: Settings) -> dict[str, str]:
    """The environment the daemon, its code server and its runs see: this warehouse and config."""
    return {
        **os.environ,
        "DAGSTER_HOME": str(settings.dagster_home),
        "HEALTHWATCH_WAREHOUSE": str(settings.warehouse),
        "HEALTHWATCH_CONFIG": str(settings.config_path),
        # STACK.md trap 3: dbt and the run workers come from this environment's bin.
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }


@contextmanager
def running_daemon(settings: Settings, log_path: Path) -> Iterator[subprocess.Popen]:
    """Turn every sensor on and run `dagster-daemon` until the block ends (then stop it)."""
    ensure_instance_config(settings.dagster_home)
    env = daemon_env(settings)
    workspace = str(REPO_ROOT / "workspace.yaml")
    started = subprocess.run(
        [str(BIN / "dagster"), "sensor", "start", "--start-all", "-w", workspace],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if started.returncode != 0:
        raise HealthwatchError(f"could not start the sensors: {started.stderr.strip()[-500:]}")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        # Its own session, so that stopping it stops its code server too (STACK.md trap 7).
        daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", workspace],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield daemon
        finally:
            os.killpg(daemon.pid, signal.SIGINT)
            try:
                daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait()
