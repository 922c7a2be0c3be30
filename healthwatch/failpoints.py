"""Failpoints: named places where the process can be made to die as `kill -9` would, for the
fault-injection suite (tests/faults/). Off unless HEALTHWATCH_FAILPOINT names the place, so they
cost one environment lookup in production.

    HEALTHWATCH_FAILPOINT=after:signals_dbt healthwatch run     # dies once signals are built
"""

import os
import signal
import sys

FAILPOINT_ENV = "HEALTHWATCH_FAILPOINT"


def hit(name: str) -> None:
    """Die here, with SIGKILL (no cleanup, no finally blocks), when HEALTHWATCH_FAILPOINT is `name`."""
    if os.environ.get(FAILPOINT_ENV) == name:
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
