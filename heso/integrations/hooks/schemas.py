"""The hook's JSON as Claude Code (and Codex) sends it, and the answer's shape."""

from __future__ import annotations

import marshmallow as ma

from heso.integrations.hooks.answers import EVENTS
from heso.schemas import StrictSchema

#: The longest a hook may be held (seconds); Claude Code's own default hook timeout is 600.
MAX_TIMEOUT = 3600
DEFAULT_TIMEOUT = 540
#: A hook body is a tool's input, which for Write holds a whole file.
MAX_HOOK_BYTES = 1024 * 1024


class HookEventSchema(StrictSchema):
    """Only what HESO reads is checked; the many other fields a hook carries are ignored (the
    agents add fields release by release, and a hook must not start failing for it)."""

    class Meta:
        unknown = ma.EXCLUDE

    hook_event_name = ma.fields.String(required=True, validate=ma.validate.OneOf(EVENTS))
    tool_name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    tool_input = ma.fields.Dict(required=True, keys=ma.fields.String())
    tool_use_id = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    session_id = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    cwd = ma.fields.String(validate=ma.validate.Length(min=1, max=4096))
    permission_mode = ma.fields.String(validate=ma.validate.Length(max=100))


class HookQuerySchema(StrictSchema):
    timeout = ma.fields.Integer(load_default=DEFAULT_TIMEOUT, validate=ma.validate.Range(min=1, max=MAX_TIMEOUT),
                                metadata={"description": "The hook's own timeout in seconds: HESO answers deny a "
                                                         "little before it (fail closed) if nobody has answered"})


class HookAnswerSchema(ma.Schema):
    hookSpecificOutput = ma.fields.Dict(metadata={  # noqa: N815 - Claude Code's field name
        "description": "PreToolUse: {hookEventName, permissionDecision allow|deny, permissionDecisionReason, "
                       "updatedInput?}; PermissionRequest: {hookEventName, decision: {behavior: allow, "
                       "updatedInput?} | {behavior: deny, message}}"})
