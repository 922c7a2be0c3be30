"""The one rendering mechanism: Jinja templates in `delivery/templates/`.

`name.html.j2` is autoescaped, `name.txt.j2` is not (plain text has nothing to escape). Every
mail kind is a pair of templates rendered from the same context; CRM task descriptions are text
templates. New channels add templates, not string building in Python.
"""

from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from delivery import formatting


@dataclass(frozen=True)
class RenderedBodies:
    html: str
    text: str


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
    env.filters.update(
        money=formatting.money,
        percent=formatting.percent,
        number=formatting.number,
        local_time=formatting.local_time,
        utc_time=formatting.utc_time,
        trend=formatting.trend_text,
    )
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
