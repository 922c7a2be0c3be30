"""playbooks.yml: what the owner of each alert type does, step by step, and the email they send.

Each playbook has a `summary` (the paragraph digests and CRM tasks show), ordered `steps`, and an
`email` template (subject and body) with placeholders filled per alert. Shared `links` (help
centre, training booking, ...) are placeholders too. Validated on load: every alert type needs a
playbook, and a template may only use the placeholders listed in `EMAIL_FIELDS` and the links.
"""

import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from healthwatch.yaml_config import load_yaml_model

# Placeholders an email template may use (besides the file's links).
EMAIL_FIELDS: frozenset[str] = frozenset(
    {"account_name", "csm_name", "csm_email", "reason", "title", "severity", "alert_type", "segment"}
)
_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def placeholders(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


class EmailTemplate(_Strict):
    subject: str = Field(min_length=1)
    body: str = Field(min_length=1)

    @field_validator("subject", "body")
    @classmethod
    def _parsable(cls, text: str) -> str:
        try:
            for _, name, spec, conversion in string.Formatter().parse(text):
                if name is not None and (spec or conversion or not name.isidentifier()):
                    raise ValueError(f"placeholder {{{name}}} must be a plain name, without format spec")
        except ValueError as exc:
            raise ValueError(f"not a valid template: {exc}") from None
        return text


class Playbook(_Strict):
    summary: str = Field(min_length=1)
    steps: tuple[str, ...] = Field(min_length=1)
    email: EmailTemplate

    @field_validator("steps")
    @classmethod
    def _non_empty(cls, steps: tuple[str, ...]) -> tuple[str, ...]:
        if any(not step.strip() for step in steps):
            raise ValueError("a step may not be empty")
        return steps


class PlaybooksFile(_Strict):
    """The whole of playbooks.yml."""

    version: int = Field(1, ge=1, le=1)
    links: dict[str, str] = Field(default_factory=dict)
    playbooks: dict[str, Playbook]

    @field_validator("links")
    @classmethod
    def _link_names(cls, links: dict[str, str]) -> dict[str, str]:
        for name in links:
            if not re.match(_NAME_PATTERN, name) or name in EMAIL_FIELDS:
                raise ValueError(
                    f"link name {name!r} must be lower_snake_case and not one of {', '.join(sorted(EMAIL_FIELDS))}"
                )
        return links

    @model_validator(mode="after")
    def _known_placeholders(self) -> "PlaybooksFile":
        allowed = EMAIL_FIELDS | set(self.links)
        for name, playbook in self.playbooks.items():
            for part in ("subject", "body"):
                unknown = sorted(set(placeholders(getattr(playbook.email, part))) - allowed)
                if unknown:
                    raise ValueError(
                        f"playbooks.{name}.email.{part}: unknown placeholder {{{unknown[0]}}}; "
                        f"use {', '.join('{' + f + '}' for f in sorted(allowed))}"
                    )
        return self

    def render_email(self, playbook_id: str, fields: Mapping[str, Any]) -> tuple[str, str]:
        """Subject and body of a playbook's email for one alert (missing fields show as "n/a")."""
        email = self.playbooks[playbook_id].email
        values = {name: "n/a" for name in EMAIL_FIELDS} | self.links
        values |= {k: ("n/a" if v is None else str(v)) for k, v in fields.items() if k in EMAIL_FIELDS}
        return email.subject.format(**values), email.body.format(**values).strip()


def load_playbooks(path: Path) -> PlaybooksFile:
    """Read and validate playbooks.yml (HealthwatchError naming the file and key if bad)."""
    return load_yaml_model(path, PlaybooksFile)
