"""The email templates. What a decision looks like comes from the plugin API's
``decision_view``, shared with the confirm page and every other channel.

The package has its own Jinja environment instead of Flask's: the worker that sends mail
runs in an app whose template folders are not this package's.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from heso.channels.api import OPTION_LABELS, STATUS_LABELS, decision_view, one_line

__all__ = ["OPTION_LABELS", "STATUS_LABELS", "decision_view", "environment", "one_line", "render"]


@cache
def environment() -> Environment:
    """The package's Jinja environment (HTML autoescaped, text not; undefined names fail)."""
    return Environment(
        loader=PackageLoader("heso_channel_email", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template: str, **values: Any) -> str:
    return environment().get_template(template).render(**values)
