from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Request

from heso.decisions.models import ANSWER, KINDS, OPTIONS, STATUSES, URGENCIES
from heso.grants.schemas import RememberSchema
from heso.lean_parser import json_object
from heso.schemas import (
    PageQuerySchema,
    StrictInteger,
    StrictSchema,
    TextOrObject,
    UTCTime,
    http_url,
    page_schema,
    since_field,
)


class ResponseOptionSchema(StrictSchema):
    name = ma.fields.String(required=True, validate=[ma.validate.Length(min=1, max=100),
                                                     ma.validate.Regexp(r"^[\x21-\x7e]+$")],
                            metadata={"description": "What the answer names (printable ASCII, no spaces)"})
    title = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=200))
    description = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=2_000))


class DecisionCreateSchema(StrictSchema):
    # _check_routing, as far as JSON Schema can say it (heso.openapi); the quorum and the
    # escalation's timing against the approvers and the timeout are 422s documented in api.md.
    OPENAPI = {"allOf": [
        {"anyOf": [{"required": ["approver"], "properties": {"approver": {"type": "string"}}},
                   {"required": ["approvers"], "properties": {"approvers": {"type": "array"}}}]},
        *({"if": {"required": [one], "properties": {one: {"type": kind}}},
           "then": {"required": [other], "properties": {other: {"type": other_kind}}}}
          for one, kind, other, other_kind in (("escalate_to", "string", "escalate_after_minutes", "integer"),
                                               ("escalate_after_minutes", "integer", "escalate_to", "string"))),
        # _check_kind: a question takes no options and one answer.
        {"if": {"required": ["kind"], "properties": {"kind": {"const": "question"}}},
         "then": {"not": {"required": ["options"]}, "properties": {"quorum": {"const": 1}}}},
    ]}
    action = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=10_000),
                              metadata={"description": "What the agent wants to do"})
    context = TextOrObject(load_default=None, allow_none=True,
                           metadata={"description": "Text or a JSON object to help the approver decide"})
    approver = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=320),
                                metadata={"description": "Who decides (email or channel identity)"})
    approvers = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=320)),
                               load_default=None, validate=ma.validate.Length(min=1, max=50),
                               metadata={"description": "Several approvers; `quorum` of them must approve",
                                         "uniqueItems": True})
    quorum = StrictInteger(load_default=1, validate=ma.validate.Range(min=1, max=50))
    urgency = ma.fields.String(load_default="medium", validate=ma.validate.OneOf(URGENCIES))
    timeout_minutes = StrictInteger(load_default=None, validate=ma.validate.Range(min=1, max=30 * 24 * 60),
                                    metadata={"description": "Minutes before the decision expires (default 60)"})
    channel = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(min=1, max=64),
                               metadata={"description": "An installed channel plugin, e.g. email",
                                         "installed_channel": True})
    options = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(OPTIONS)),
                             load_default=lambda: list(OPTIONS), validate=ma.validate.Length(min=1, max=3),
                             metadata={"uniqueItems": True})
    callback_url = http_url(load_default=None, allow_none=True)
    escalate_to = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(min=1, max=320))
    escalate_after_minutes = StrictInteger(load_default=None, allow_none=True,
                                           validate=ma.validate.Range(min=1, max=30 * 24 * 60))
    kind = ma.fields.String(load_default="approval", validate=ma.validate.OneOf(KINDS), metadata={
        "description": "approval (approve/deny/modify) or question (answered with text or a response option)"})
    response_options = ma.fields.List(ma.fields.Nested(ResponseOptionSchema), load_default=None, allow_none=True,
                                      validate=ma.validate.Length(min=1, max=20), metadata={
                                          "description": "A question's choices; an approval's named reasons to deny"})

    #: The text fields :meth:`lean_load` requires: (field, shortest, longest).
    _LEAN_TEXT = (("action", 1, 10_000), ("approver", 1, 320))

    def lean_load(self, request: Request) -> dict[str, Any] | None:
        """What :meth:`load` gives for the common create (``action``, ``approver``, and any of
        ``context``, ``urgency``, ``timeout_minutes``), without marshmallow (about 40 µs of a
        create's CPU, issue 18), or None: then the full load runs and reports what is wrong,
        unchanged. It accepts only what the fields accept (a JSON body parsed as webargs parses
        it, the same types, lengths, choices and defaults) and never a NUL: a ``\\u0000``
        escape anywhere in the body sends it the full way. tests/decisions/test_lean_load.py
        checks it against :meth:`load`.
        """
        data = json_object(request)
        if data is None or not data.keys() <= _LEAN_FIELDS:
            return None
        for name, shortest, longest in self._LEAN_TEXT:
            value = data.get(name)
            if type(value) is not str or not shortest <= len(value) <= longest:
                return None
        context = data.get("context")
        if context is not None and type(context) is not str and type(context) is not dict:
            return None
        urgency = data.get("urgency", "medium")
        if type(urgency) is not str or urgency not in URGENCIES:
            return None
        timeout = data.get("timeout_minutes")
        if type(timeout) is float and timeout.is_integer():
            timeout = int(timeout)  # StrictInteger: JSON Schema's integer, 5.0 is 5
        if timeout is not None and (type(timeout) is not int or not 1 <= timeout <= 30 * 24 * 60):
            return None
        return {"action": data["action"], "context": context, "approver": data["approver"], "approvers": None,
                "quorum": 1, "urgency": urgency, "timeout_minutes": timeout, "channel": None,
                "options": list(OPTIONS), "callback_url": None, "escalate_to": None, "escalate_after_minutes": None,
                "kind": "approval", "response_options": None}

    @ma.validates_schema
    def _check_kind(self, data: dict[str, Any], **kwargs: Any) -> None:
        problems: dict[str, list[str]] = {}
        names = [option["name"] for option in data.get("response_options") or []]
        if len(set(names)) != len(names):
            problems["response_options"] = ["Option names must be distinct."]
        if data.get("kind") == "question":
            if data.get("options") != list(OPTIONS):
                problems["options"] = ["A question is answered, not approved: leave options out."]
            if data.get("quorum", 1) != 1:
                problems["quorum"] = ["A question takes one answer: quorum 1."]
        if problems:
            raise ma.ValidationError(problems)

    @ma.post_load
    def _question_options(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if data.get("kind") == "question":
            data["options"] = [ANSWER]
        return data

    @ma.validates_schema
    def _check_routing(self, data: dict[str, Any], **kwargs: Any) -> None:
        problems: dict[str, list[str]] = {}
        if not data.get("approver") and not data.get("approvers"):
            problems["approver"] = ["Give an approver or a list of approvers."]
        approvers = approver_list(data)
        if len(set(approvers)) != len(approvers):
            problems["approvers"] = ["Approvers must be distinct."]
        if data["quorum"] > len(set(approvers)):
            problems["quorum"] = [f"Quorum {data['quorum']} exceeds the {len(set(approvers))} approver(s)."]
        if len(set(data["options"])) != len(data["options"]):
            problems["options"] = ["Options must be distinct."]
        if (data.get("escalate_to") is None) != (data.get("escalate_after_minutes") is None):
            problems["escalate_after_minutes"] = ["escalate_to and escalate_after_minutes go together."]
        timeout = data.get("timeout_minutes") or 60
        if data.get("escalate_after_minutes") and data["escalate_after_minutes"] >= timeout:
            problems["escalate_after_minutes"] = [f"Must be less than timeout_minutes ({timeout})."]
        if problems:
            raise ma.ValidationError(problems)


#: The keys a body may have for :meth:`DecisionCreateSchema.lean_load` to load it.
_LEAN_FIELDS = frozenset({"action", "approver", "context", "urgency", "timeout_minutes"})


def approver_list(data: dict[str, Any]) -> list[str]:
    approvers = list(data.get("approvers") or [])
    if data.get("approver") and data["approver"] not in approvers:
        approvers.insert(0, data["approver"])
    return approvers


class IdempotencyHeaderSchema(ma.Schema):
    idempotency_key = ma.fields.String(
        data_key="Idempotency-Key", load_default=None,
        validate=[ma.validate.Length(min=1, max=255), ma.validate.Regexp(r"^[\x21-\x7e]+$")],
        metadata={"description": "Same key + same body returns the same decision; a different body is 409"},
    )


#: questions.check, as far as JSON Schema can say it: text only with answer, an option only with
#: answer or deny, and an answer gives one of them (which options exist is the decision's).
_ANSWER_RULES = [
    {"if": {"required": ["answer"], "properties": {"answer": {"type": "string"}}},
     "then": {"properties": {"action": {"const": ANSWER}}}},
    {"if": {"required": ["option"], "properties": {"option": {"type": "string"}}},
     "then": {"properties": {"action": {"enum": [ANSWER, "deny"]}}}},
    {"if": {"required": ["action"], "properties": {"action": {"const": ANSWER}}},
     "then": {"anyOf": [{"required": ["answer"], "properties": {"answer": {"type": "string"}}},
                        {"required": ["option"], "properties": {"option": {"type": "string"}}}]}},
]


class _AnswerSchema(StrictSchema):
    OPENAPI: dict = {"allOf": _ANSWER_RULES}
    action = ma.fields.String(required=True, validate=ma.validate.OneOf((*OPTIONS, ANSWER)),
                              metadata={"description": "approve | deny | modify; answer for a question"})
    answer = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(min=1, max=10_000),
                              metadata={"description": "With action=answer: the answer's text"})
    option = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(min=1, max=100),
                              metadata={"description": "The name of one of the decision's response_options "
                                                       "(action=answer, or deny for a named reason)"})
    notes = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=10_000))
    resolved_by = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(min=1, max=320),
                                   metadata={"description": "Optional: the caller's own email (anything else is "
                                                            "403); required with a delegate key, naming the member "
                                                            "it acts for"})
    modified_action = TextOrObject(load_default=None, allow_none=True,
                                   metadata={"description": "With action=modify: what the agent should do instead"})


class ResolveSchema(_AnswerSchema):
    OPENAPI = {"allOf": [*_ANSWER_RULES,
                         {"if": {"required": ["remember"]}, "then": {"properties": {"action": {"const": "approve"}}}}]}
    remember = ma.fields.Nested(RememberSchema, metadata={
        "description": "With action=approve, for a tool call's decision: allow the same agent the same call "
                       "(or a narrower pattern of it) for `hours` without asking (a grant, /v1/grants)"})

    @ma.validates_schema
    def _remember_approves(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "remember" in data and data.get("action") != "approve":
            raise ma.ValidationError({"remember": ["Only with action 'approve'."]})


class RespondSchema(_AnswerSchema):
    token = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000),
                             metadata={"description": "The action_token a channel delivered with the decision"})


class CancelSchema(StrictSchema):
    reason = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=2_000))


class WaitQuerySchema(StrictSchema):
    wait = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=60),
                             metadata={"description": "Long-poll: seconds (≤ 60) to wait for the decision to settle"})


class DecisionQuerySchema(PageQuerySchema):
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Regexp(r"^dec_[0-9A-Z]{26}$"),
                              metadata={"description": "next_cursor from the previous page"})
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(STATUSES))
    urgency = ma.fields.String(load_default=None, validate=ma.validate.OneOf(URGENCIES))
    approver = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=320))
    since = since_field("Created since: '10m', '1h', '2d' or an RFC 3339 time")


class DecisionSchema(ma.Schema):
    id = ma.fields.String()
    status = ma.fields.String(metadata={"description": " | ".join(STATUSES)})
    action = ma.fields.String()
    context = ma.fields.Raw(allow_none=True)
    approver = ma.fields.String()
    approvers = ma.fields.List(ma.fields.String())
    quorum = ma.fields.Integer()
    approve_votes = ma.fields.Integer()
    urgency = ma.fields.String()
    timeout_minutes = ma.fields.Integer()
    channel = ma.fields.String(allow_none=True)
    options = ma.fields.List(ma.fields.String())
    callback_url = ma.fields.String(allow_none=True)
    escalate_to = ma.fields.String(allow_none=True)
    escalate_after_minutes = ma.fields.Integer(allow_none=True)
    escalated_at = UTCTime(allow_none=True)
    created_at = UTCTime()
    expires_at = UTCTime()
    resolved_at = UTCTime(allow_none=True)
    resolved_by = ma.fields.String(allow_none=True, metadata={"description": "The member who answered (their email)"})
    resolved_via = ma.fields.String(allow_none=True, metadata={
        "description": "How: session | key | delegate | email | slack | token | device_key (null: expired)"})
    response_notes = ma.fields.String(allow_none=True)
    modified_action = ma.fields.Raw(allow_none=True)
    kind = ma.fields.String(metadata={"description": " | ".join(KINDS)})
    response_options = ma.fields.List(ma.fields.Nested(ResponseOptionSchema), allow_none=True)
    answer = ma.fields.String(allow_none=True, metadata={"description": "A question's answer text"})
    answer_option = ma.fields.String(allow_none=True, metadata={"description": "The response option chosen"})


DecisionPageSchema = page_schema(DecisionSchema, "DecisionPage")
