"""The one rendering mechanism: Jinja templates in `delivery/templates/`.

`name.html.j2` is autoescaped, `name.txt.j2` is not (plain text has nothing to escape). Every
mail kind is a pair of templates rendered from the same context; CRM task descriptions are text
templates. `name.slack.j2` renders a Slack Block Kit message as JSON, in an environment whose
every `{{ ... }}` is escaped twice, for Slack's mrkdwn (`&`, `<`, `>`) and as the inside of a JSON
string, the way HTML templates are autoescaped: a template cannot forget it. New channels add
templates, not string building in Python.
"""

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from delivery import formatting


@dataclass(frozen=True)
class RenderedBodies:
    html: str
    text: str


def _filters(env: Environment) -> None:
    env.filters.update(
        money=formatting.money,
        percent=formatting.percent,
        number=formatting.number,
        local_time=formatting.local_time,
        utc_time=formatting.utc_time,
        trend=formatting.trend_text,
        sparkline=formatting.sparkline,
        precision=formatting.precision_text,
    )


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("delivery", "templates"),
        # select_autoescape tests the end of the name: "html" alone would not match `x.html.j2`.
        autoescape=select_autoescape(["html", "html.j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    _filters(env)
    return env


def _slack_finalize(value: Any) -> str:
    """Every expression in a Slack template: mrkdwn-escaped, then escaped as JSON string content."""
    if value is None:
        return ""
    return json.dumps(formatting.slack_escape(value), ensure_ascii=False)[1:-1]


@cache
def slack_environment() -> Environment:
    env = Environment(
        loader=PackageLoader("delivery", "templates"),
        autoescape=False,
        finalize=_slack_finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    _filters(env)
    return env


def render_text(template: str, **context: Any) -> str:
    """Render `<template>.txt.j2`."""
    return environment().get_template(f"{template}.txt.j2").render(**context)


def render_html(template: str, **context: Any) -> str:
    """Render `<template>.html.j2` (autoescaped)."""
    return environment().get_template(f"{template}.html.j2").render(**context)


def render_mail(template: str, **context: Any) -> RenderedBodies:
    """Render the HTML and text bodies of a mail from one context."""
    return RenderedBodies(html=render_html(template, **context), text=render_text(template, **context))


def render_slack(template: str, **context: Any) -> dict[str, Any]:
    """Render `<template>.slack.j2` to a Block Kit message (parsed, so broken JSON fails here)."""
    return json.loads(slack_environment().get_template(f"{template}.slack.j2").render(**context))
