"""``/settings/channels``: a form per installed channel, generated from its ``config_schema``
(secrets write-only); ``/settings``: the team's settings. Admins only, like the API.

Saving goes through the same services as ``PUT /v1/channels/<name>/config`` and
``PUT /v1/teams/me/settings``; a refused save shows the schema's messages beside the fields (422).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import redirect, request, url_for
from werkzeug.wrappers import Response

from heso import errors
from heso.auth import members
from heso.auth.people_schemas import TeamSettingsSchema, TeamSettingsUpdateSchema
from heso.channels import service as channels
from heso.console import schema_forms
from heso.console.base import blp, page, principal, render

_TEAM_FORM = TeamSettingsUpdateSchema()


@blp.route("/settings/channels")
@page("admin")
def channel_settings() -> Response:
    """Every installed channel (and any that failed to load), with a link to its settings form."""
    listing = channels.list_channels(principal().team_id)
    return render("console/channel_settings.html", title="Channel settings", channels=listing)


def _stored(team_id: str, name: str) -> dict[str, Any] | None:
    try:
        return channels.get_config(team_id, name)
    except errors.NotFound:
        channels.channel_plugin(name)  # an unknown channel is still a 404
        return None


@blp.route("/settings/channels/<name>", methods=["GET", "POST"])
@page("admin")
def channel_setting(name: str) -> Response:
    """One channel's settings form; POST saves it with ``PUT /v1/channels/<name>/config``'s service."""
    team_id = principal().team_id
    plugin = channels.channel_plugin(name)
    schema = plugin.config_schema()
    current = _stored(team_id, name)
    if request.method == "POST":
        try:
            body = schema_forms.parse(schema, request.form, plugin.secret_fields)
            channels.put_config(team_id, name, body, keep_secrets=True)
        except errors.ValidationFailed as exc:
            fields = schema_forms.build(schema, plugin.secret_fields, stored=current and current["config"],
                                        submitted=request.form, problems=schema_forms.problems_of(exc))
            return render("console/channel_setting.html", 422, title=f"{name} settings", name=name,
                          fields=fields, current=current, error=exc,
                          form_errors=schema_forms.messages(schema_forms.problems_of(exc).get("_schema")))
        return redirect(url_for("console.channel_setting", name=name, saved=1), 303)
    fields = schema_forms.build(schema, plugin.secret_fields, stored=current and current["config"])
    return render("console/channel_setting.html", title=f"{name} settings", name=name, fields=fields,
                  current=current, saved=request.args.get("saved") == "1", form_errors=[])


@blp.route("/settings", methods=["GET", "POST"])
@page("admin")
def team_settings() -> Response:
    """The team's settings as a form generated from the API's update schema."""
    team_id = principal().team_id
    stored = TeamSettingsSchema().dump(members.settings(team_id))
    if request.method == "POST":
        try:
            changes = _TEAM_FORM.load(schema_forms.parse(_TEAM_FORM, request.form))
            members.update_settings(team_id, changes)
        except ma.ValidationError as exc:
            problems = exc.normalized_messages()
            return _team_page(stored, 422, submitted=request.form, problems=problems)
        return redirect(url_for("console.team_settings", saved=1), 303)
    return _team_page(stored, 200, saved=request.args.get("saved") == "1")


def _team_page(stored: dict[str, Any], status: int, **form: Any) -> Response:
    saved = form.pop("saved", False)
    fields = schema_forms.build(_TEAM_FORM, stored=stored, **form)
    return render("console/team_settings.html", status, title="Team settings", fields=fields, saved=saved,
                  failed=status == 422)
