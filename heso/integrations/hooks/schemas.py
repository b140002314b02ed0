"""The hook's JSON as Claude Code (and Codex) sends it, and the answer's shape."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Request

from heso.integrations.hooks.answers import EVENTS
from heso.lean_parser import json_object
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

    #: The optional text fields and their (min, max) lengths, as declared above.
    _OPTIONAL = (("tool_use_id", 1, 200), ("session_id", 1, 200), ("cwd", 1, 4096), ("permission_mode", 0, 100))

    def lean_load(self, request: Request) -> dict[str, Any] | None:
        """What :meth:`load` gives for a well-formed hook, without marshmallow (about 25 µs of
        the hook's CPU), or None: then the full load runs and reports what is wrong, unchanged.

        It accepts only what the fields above accept (a JSON body parsed as webargs parses it,
        the same types, lengths and choices) and never a NUL: a ``\\u0000`` escape anywhere in
        the body sends it the full way, whose check names the field.
        """
        event = json_object(request)
        if event is None:
            return None
        name, tool, tool_input = event.get("hook_event_name"), event.get("tool_name"), event.get("tool_input")
        if (type(name) is not str or name not in EVENTS or type(tool) is not str or not 1 <= len(tool) <= 200
                or type(tool_input) is not dict):
            return None
        loaded = {"hook_event_name": name, "tool_name": tool, "tool_input": tool_input}
        for field, shortest, longest in self._OPTIONAL:
            if field in event:
                value = event[field]
                if type(value) is not str or not shortest <= len(value) <= longest:
                    return None
                loaded[field] = value
        return loaded


class HookQuerySchema(StrictSchema):
    timeout = ma.fields.Integer(load_default=DEFAULT_TIMEOUT, validate=ma.validate.Range(min=1, max=MAX_TIMEOUT),
                                metadata={"description": "The hook's own timeout in seconds: HESO answers deny a "
                                                         "little before it (fail closed) if nobody has answered"})

    def lean_load(self, request: Request) -> dict[str, Any] | None:
        """What :meth:`load` gives for no query or ``?timeout=<digits>`` in range, else None (the
        full load then runs and reports what is wrong)."""
        args = request.args
        if not args:
            return {"timeout": DEFAULT_TIMEOUT}
        values = args.getlist("timeout")
        if len(args) != 1 or len(values) != 1 or not (values[0].isascii() and values[0].isdigit()):
            return None
        timeout = int(values[0])
        return {"timeout": timeout} if 1 <= timeout <= MAX_TIMEOUT else None


class HookAnswerSchema(ma.Schema):
    hookSpecificOutput = ma.fields.Dict(metadata={  # noqa: N815 - Claude Code's field name
        "description": "PreToolUse: {hookEventName, permissionDecision allow|deny, permissionDecisionReason, "
                       "updatedInput?}; PermissionRequest: {hookEventName, decision: {behavior: allow, "
                       "updatedInput?} | {behavior: deny, message}}"})
