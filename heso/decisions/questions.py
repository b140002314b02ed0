"""Questions, a decision kind: answered with free text and/or one of its ``response_options``.

An approval's ``response_options`` are named reasons to deny (HumanLayer's reject options):
``deny`` may name one. The one place these rules live; ``service.resolve`` asks :func:`check`.
"""

from __future__ import annotations

from typing import Any

from heso import errors
from heso.decisions.models import ANSWER, Decision


def _refuse(field: str, message: str) -> errors.HesoError:
    return errors.ValidationFailed(message, details={"json": {field: [message]}})


def option_names(decision: Decision) -> list[str]:
    return [option["name"] for option in decision.response_options or []]


def check(decision: Decision, action: str, answer: str | None, option: str | None) -> dict[str, Any]:
    """The answer's columns (``answer``, ``answer_option``) for ``action``, or 422 saying what is wrong.

    Empty when neither is given and none is needed, so approvals' resolves are unchanged.
    """
    if action == ANSWER:
        if answer is None and option is None:
            raise _refuse("answer", "Answer with text (answer), an option's name (option), or both.")
    elif answer is not None:
        raise _refuse("answer", f"answer is only allowed with action 'answer', not {action!r}.")
    if option is not None:
        if action not in (ANSWER, "deny"):
            raise _refuse("option", f"option names an answer or a reason to deny, not a reason to {action}.")
        names = option_names(decision)
        if option not in names:
            raise _refuse("option", f"{option!r} is not one of this decision's response options: {names}.")
    if answer is None and option is None:
        return {}
    return {"answer": answer, "answer_option": option}


def response_text(decision: Decision) -> str | None:
    """What the human said, as one string: the text, else the chosen option's title or name."""
    if decision.answer is not None:
        return decision.answer
    for choice in decision.response_options or []:
        if choice["name"] == decision.answer_option:
            return choice.get("title") or choice["name"]
    return None
