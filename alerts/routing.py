"""Who owns an alert and who is told now (DESIGN.md "Routing").

The account's CSM always owns the alert. Severity decides who else hears about it at once:
low → the CSM; medium → the CSM, and the manager sees it in the weekly digest; high → the CSM and
the manager now; critical → the CSM, the manager and the VP of CS now, plus an exec-sponsor
outreach task. The table is data (`routing:` in alert_rules.yml) with these defaults.
"""

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Role = Literal["csm", "manager", "vp"]


class Route(BaseModel):
    """What one severity does: the roles told now, the weekly digest, the exec-sponsor task."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    notify: tuple[Role, ...] = Field(min_length=1)
    manager_digest: bool = False
    exec_outreach: bool = False

    @field_validator("notify")
    @classmethod
    def _csm_always_told(cls, roles: tuple[str, ...]) -> tuple[str, ...]:
        if "csm" not in roles:
            raise ValueError("the account's CSM owns every alert and must be in `notify`")
        if len(set(roles)) != len(roles):
            raise ValueError("each role may appear once")
        return roles


class RoutingPolicy(BaseModel):
    """One route per severity."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    low: Route = Route(notify=("csm",))
    medium: Route = Route(notify=("csm",), manager_digest=True)
    high: Route = Route(notify=("csm", "manager"), manager_digest=True)
    critical: Route = Route(notify=("csm", "manager", "vp"), manager_digest=True, exec_outreach=True)

    def for_severity(self, severity: str) -> Route:
        return getattr(self, severity)


DEFAULT_ROUTING = RoutingPolicy()


@dataclass(frozen=True)
class OwnerChain:
    """The account's CSM and the people above them (from signals.accounts)."""

    csm_id: str | None
    csm_name: str | None = None
    csm_email: str | None = None
    csm_timezone: str | None = None
    manager_id: str | None = None
    vp_id: str | None = None


@dataclass(frozen=True)
class Routing:
    owner_id: str | None
    owner_name: str | None
    owner_email: str | None
    owner_timezone: str | None
    notify_member_ids: tuple[str, ...]
    manager_id: str | None
    in_manager_digest: bool
    needs_exec_outreach: bool


def route(severity: str, owners: OwnerChain, policy: RoutingPolicy = DEFAULT_ROUTING) -> Routing:
    """Owner and recipients for an alert of `severity` on an account with these owners.

    Missing people (an account with no manager on file) are left out rather than guessed.
    """
    rule = policy.for_severity(severity)
    by_role = {"csm": owners.csm_id, "manager": owners.manager_id, "vp": owners.vp_id}
    notify: list[str] = []
    for role in rule.notify:
        member = by_role[role]
        if member and member not in notify:
            notify.append(member)
    return Routing(
        owner_id=owners.csm_id,
        owner_name=owners.csm_name,
        owner_email=owners.csm_email,
        owner_timezone=owners.csm_timezone,
        notify_member_ids=tuple(notify),
        manager_id=owners.manager_id,
        in_manager_digest=rule.manager_digest and owners.manager_id is not None,
        needs_exec_outreach=rule.exec_outreach,
    )
