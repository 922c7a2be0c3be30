"""Who owns an alert and who is told now, per severity (DESIGN.md "Routing")."""

import pytest
from pydantic import ValidationError

from alerts.routing import OwnerChain, Route, RoutingPolicy, route

OWNERS = OwnerChain(
    csm_id="c1",
    csm_name="Ana",
    csm_email="ana@example.com",
    csm_timezone="America/New_York",
    manager_id="m1",
    vp_id="v1",
)


@pytest.mark.parametrize(
    ("severity", "notify", "digest", "exec_outreach"),
    [
        ("low", ("c1",), False, False),
        ("medium", ("c1",), True, False),
        ("high", ("c1", "m1"), True, False),
        ("critical", ("c1", "m1", "v1"), True, True),
    ],
)
def test_routing_per_severity(severity: str, notify: tuple, digest: bool, exec_outreach: bool) -> None:
    routing = route(severity, OWNERS)
    assert routing.owner_id == "c1"  # the CSM always owns it
    assert (routing.owner_name, routing.owner_email, routing.owner_timezone) == (
        "Ana",
        "ana@example.com",
        "America/New_York",
    )
    assert routing.notify_member_ids == notify
    assert routing.manager_id == "m1"
    assert routing.in_manager_digest is digest
    assert routing.needs_exec_outreach is exec_outreach


def test_missing_people_are_left_out_not_guessed() -> None:
    routing = route("critical", OwnerChain(csm_id="c1"))
    assert routing.notify_member_ids == ("c1",)
    assert routing.manager_id is None
    assert routing.in_manager_digest is False
    assert routing.needs_exec_outreach is True


def test_one_person_in_two_roles_is_told_once() -> None:
    routing = route("critical", OwnerChain(csm_id="c1", manager_id="m1", vp_id="m1"))
    assert routing.notify_member_ids == ("c1", "m1")


def test_policy_is_configurable() -> None:
    policy = RoutingPolicy(low=Route(notify=("csm", "manager")))
    assert route("low", OWNERS, policy).notify_member_ids == ("c1", "m1")


def test_the_csm_must_always_be_told() -> None:
    with pytest.raises(ValidationError, match="CSM"):
        Route(notify=("manager", "vp"))
