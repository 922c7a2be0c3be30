"""Job hooks."""

import dagster as dg

from healthwatch.failpoints import hit


@dg.success_hook(name="failpoints")
def failpoint_hook(context: dg.HookContext) -> None:
    """After a step succeeded and its events are stored: die there if HEALTHWATCH_FAILPOINT is
    `after:<step key>` (fault-injection tests kill a run between any two steps this way)."""
    hit(f"after:{context.step_key}")
