"""``/policy``: the team's bundle versions, the active one, the activation history, activate or
roll back (admins), and a dry run showing the decision and why (ops).

Each action is the service behind the API: ``POST /v1/policy/bundles/<version>/activate``
(:func:`heso.policy.service.activate_version`) and ``POST /v1/policy/evaluate``
(:func:`heso.policy.service.evaluate`, its input validated by the API's own ``EvaluateSchema``).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import redirect, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from heso.console.base import blp, page, principal, render
from heso.console.schema_forms import messages
from heso.policy import service
from heso.policy.schemas import EvaluateSchema

FLAGS = ("external_network", "writes_files", "elevated_privileges")
TEXT = ("tool", "agent_id", "role", "version")
_EVALUATE = EvaluateSchema()


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def dry_run_body(form: MultiDict) -> dict[str, Any]:
    """The ``POST /v1/policy/evaluate`` body the dry-run form stands for (empty inputs left out)."""
    body: dict[str, Any] = {name: form[name].strip() for name in TEXT if form.get(name, "").strip()}
    if capabilities := _lines(form.get("capabilities", "")):
        body["capabilities"] = capabilities
    context: dict[str, Any] = {flag: form[flag] == "yes" for flag in FLAGS if form.get(flag) in ("yes", "no")}
    if form.get("package_manager", "").strip():
        context["package_manager"] = form["package_manager"].strip()
    if targets := _lines(form.get("targets", "")):
        context["targets"] = targets
    body["context"] = context
    return body


def _field_problems(problems: dict[str, Any]) -> dict[str, list[str]]:
    """The schema's messages keyed by the form's input names (``context.targets`` → ``targets``)."""
    flat: dict[str, list[str]] = {}
    for key, value in problems.items():
        if key == "context" and isinstance(value, dict):
            flat.update({str(inner): messages(said) for inner, said in value.items()})
        else:
            flat[str(key)] = messages(value)
    return flat


def _policy_page(status: int = 200, **context: Any) -> Response:
    team_id = principal().team_id
    bundles, more_bundles = service.list_bundles(team_id, 50)
    history, more_history = service.history(team_id, 20)
    head = service.head(team_id)
    active = next((bundle for bundle in bundles if bundle["active"]), None)
    context.setdefault("form", MultiDict())
    return render("console/policy.html", status, title="Policy", bundles=bundles, more_bundles=more_bundles,
                  history=history, more_history=more_history, head=head, active=active,
                  can_activate=principal().allows("admin"), flags=FLAGS,
                  activated=request.args.get("activated"), **context)


@blp.route("/policy")
@page("ops")
def policy() -> Response:
    return _policy_page()


@blp.route("/policy/bundles/<version>/activate", methods=["POST"])
@page("admin")
def policy_activate(version: str) -> Response:
    """Activate a stored version; an older one is a rollback (floors are checked again)."""
    row, _ = service.activate_version(principal(), version)
    return redirect(url_for("console.policy", activated=row.version), 303)


@blp.route("/policy/dry-run", methods=["POST"])
@page("ops")
def policy_dry_run() -> Response:
    """Evaluate an action against the active (or a stored) version: the decision and why. Changes nothing."""
    try:
        data = _EVALUATE.load(dry_run_body(request.form))
    except ma.ValidationError as exc:
        return _policy_page(422, form=request.form, problems=_field_problems(exc.normalized_messages()))
    return _policy_page(form=request.form, result=service.evaluate(principal(), data), problems={})
