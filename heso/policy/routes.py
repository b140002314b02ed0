"""``/v1/policy``: bundles, activation and history, dry-run evaluation, the team's source;
and ``/v1/teams/{teamId}/policy`` in the HESO Cloud shape."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from heso import request_body
from heso.auth.access import current_principal, require
from heso.pagination import page, page_limit
from heso.policy import document, registry, runtime, service, sync
from heso.policy.schemas import (
    BundleDetailSchema,
    BundlePageSchema,
    BundleSummarySchema,
    CursorQuerySchema,
    EvaluateSchema,
    EvaluationSchema,
    FloorsSchema,
    HistoryPageSchema,
    InstalledSourcesSchema,
    SourceStatusSchema,
    TeamPolicySchema,
    UploadQuerySchema,
)

blp = Blueprint("policy", __name__, url_prefix="/v1",
                description="Versioned policy bundles, pinned floors, dry-run evaluation and policy sources.")

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
_BUNDLE_BODY = {"required": True, "content": {
    media: {"schema": document.BundleSchema} for media in ("application/json", "application/yaml")}}


def _bundle_body() -> Any:
    """The request body as a bundle document: JSON, or YAML by Content-Type."""
    fmt = "yaml" if request.mimetype in YAML_TYPES else "json"
    return document.parse_text(request.get_data(cache=False), fmt)


@blp.route("/policy/bundles")
@request_body.accepts_body(document.MAX_BUNDLE_BYTES, YAML_TYPES)
class Bundles(MethodView):
    @require("admin")
    @blp.arguments(UploadQuerySchema, location="query", as_kwargs=True, unknown=ma.RAISE)
    @blp.doc(requestBody=_BUNDLE_BODY)
    @blp.response(201, BundleSummarySchema)
    @blp.alt_response(200, schema=BundleSummarySchema, description="This version already exists with these rules")
    def put(self, activate: bool) -> Any:
        """Upload a bundle version (JSON or YAML, ≤ 1 MiB, ≤ 10,000 rules); refused if it loosens a floor."""
        principal = current_principal()
        row, created = service.upload(principal, _bundle_body(), activate)
        current = service.head(principal.team_id)
        summary = service.summary(row, current is not None and current.bundle_id == row.id)
        return summary, 201 if created else 200

    @require("ops")
    @blp.arguments(CursorQuerySchema, location="query", as_kwargs=True, unknown=ma.RAISE)
    @blp.response(200, BundlePageSchema)
    def get(self, limit: int | None, cursor: str | None) -> dict:
        """List stored versions, newest first."""
        items, has_more = service.list_bundles(current_principal().team_id, page_limit(limit),
                                               int(cursor) if cursor else None)
        return page(items, has_more, lambda item: item["cursor"])


@blp.route("/policy/bundles/<version>")
class BundleByVersion(MethodView):
    @require("ops")
    @blp.response(200, BundleDetailSchema)
    def get(self, version: str) -> dict:
        """One stored version with its normalised document."""
        principal = current_principal()
        row = service.get_bundle(principal.team_id, version)
        current = service.head(principal.team_id)
        return {**service.summary(row, current is not None and current.bundle_id == row.id), "document": row.document}


@blp.route("/policy/bundles/<version>/activate")
class ActivateBundle(MethodView):
    @require("admin")
    @blp.response(200, BundleSummarySchema)
    def post(self, version: str) -> dict:
        """Make a stored version the active one (activating an older version rolls back)."""
        row, _ = service.activate_version(current_principal(), version)
        return service.summary(row, True)


@blp.route("/policy/history")
class History(MethodView):
    @require("ops")
    @blp.arguments(CursorQuerySchema, location="query", as_kwargs=True, unknown=ma.RAISE)
    @blp.response(200, HistoryPageSchema)
    def get(self, limit: int | None, cursor: str | None) -> dict:
        """Which version was active when: activations newest first."""
        items, has_more = service.history(current_principal().team_id, page_limit(limit),
                                          int(cursor) if cursor else None)
        return page(items, has_more, lambda item: item["cursor"])


@blp.route("/policy/evaluate")
class Evaluate(MethodView):
    @require("agent", "ops")
    @blp.arguments(EvaluateSchema, required=False)
    @blp.response(200, EvaluationSchema)
    def post(self, data: dict[str, Any]) -> dict:
        """Dry run: the effect, the matched rule and why each earlier rule did not match. Changes nothing."""
        return service.evaluate(current_principal(), data)


@blp.route("/policy/floors")
class Floors(MethodView):
    @require("agent", "ops")
    @blp.response(200, FloorsSchema)
    def get(self) -> dict:
        """The operator's pinned floors, which every bundle must respect."""
        return {"floors": [document.rule_document(floor) for floor in runtime.floors()]}


@blp.route("/policy/source")
class Source(MethodView):
    @require("ops")
    @blp.response(200, SourceStatusSchema)
    def get(self) -> dict:
        """The team's policy source, its health and its last error (set by the operator's CLI)."""
        return sync.status(current_principal().team_id)


@blp.route("/policy/source/refresh")
class RefreshSource(MethodView):
    @require("admin")
    @blp.response(200, SourceStatusSchema)
    def post(self) -> dict:
        """Load the bundle from the team's source now (a failure keeps the last good bundle)."""
        return sync.refresh(current_principal().team_id)


@blp.route("/policy/sources")
class InstalledSources(MethodView):
    @require("ops")
    @blp.response(200, InstalledSourcesSchema)
    def get(self) -> dict:
        """Installed policy-source plugins, with the load error of any that is broken."""
        return {"data": [{"name": name, "distribution": loaded.distribution, "version": loaded.version,
                          "error": loaded.error} for name, loaded in sorted(registry.sources().items())]}


@blp.route("/teams/<team_id>/policy")
class TeamPolicy(MethodView):
    @require("agent", "ops")
    @blp.response(200, TeamPolicySchema)
    def get(self, team_id: str) -> dict:
        """The team's active bundle: ``{version, rules, fetchedAt}`` (HESO Cloud)."""
        return service.team_policy(current_principal(), team_id)
