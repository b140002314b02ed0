"""Many tool calls, or many result hashes, in one request (a gateway's: ``heso mcp proxy``).

A gateway in front of fast tools spends most of a call on its round trips to HESO; batching
them pays the authentication, the active-policy read, the INSERTs and the commit once per
batch instead of once per call. Each item still gets its own outcome, exactly what a
request of its own would have answered (``status`` and the body, or the error envelope):
one bad item never fails the others, and a held call answers at once with its decision (the
caller waits for it separately), so it never delays the allowed ones.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import marshmallow as ma
from sqlalchemy import Select, TextClause, and_, bindparam, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.dml import ReturningInsert

from heso import errors, oneshot
from heso.agents import service as agents
from heso.auth.service import Principal
from heso.execution import direct, service
from heso.execution.models import ExecutionRequest
from heso.execution.schemas import EXECUTION_ID, ToolAuthorizeSchema, ToolResultItemSchema
from heso.extensions import db
from heso.ledger import service as ledger
from heso.ledger.models import LedgerEntry
from heso.policy import runtime
from heso.timeutil import isoformat, timestamptz_json

_CALL = ToolAuthorizeSchema()
_RESULT = ToolResultItemSchema()
_HASH = ToolResultItemSchema().fields["result_hash"].validators[0].regex  # type: ignore[attr-defined]
_EXECUTION_ID = cast("re.Pattern[str]", EXECUTION_ID.regex)  # typeshed's Regexp.regex could be of bytes


def _load_call(item: Any) -> dict[str, Any]:
    """``_CALL.load(item)``, the common case without marshmallow (a gateway's call: tool, call id,
    adapter, arguments, read-only hint): the same checks and the same dict, keys in the same
    order. Anything else takes the full load, which names what is wrong. A NUL never gets
    here: the batch's load refused it (tests/execution/test_batches.py compares both loads)."""
    if type(item) is dict and item.keys() <= _LEAN_CALL_KEYS:
        tool, call_id, adapter_id = item.get("tool"), item.get("call_id", ""), item.get("adapter_id", "-")
        arguments, read_only = item.get("arguments", {}), item.get("read_only_hint", False)
        if (type(tool) is str and 1 <= len(tool) <= 200 and type(call_id) is str
                and ("call_id" not in item or _EXECUTION_ID.match(call_id))
                and type(adapter_id) is str and 1 <= len(adapter_id) <= 200
                and type(arguments) is dict and type(read_only) is bool):
            loaded: dict[str, Any] = {"tool": tool}
            if "call_id" in item:
                loaded["call_id"] = call_id
            if "adapter_id" in item:
                loaded["adapter_id"] = adapter_id
            loaded["context"] = {}
            if "arguments" in item:
                loaded["arguments"] = dict(arguments)
            if "read_only_hint" in item:
                loaded["read_only_hint"] = read_only
            return loaded
    return _CALL.load(item)


_LEAN_CALL_KEYS = frozenset(("tool", "call_id", "adapter_id", "arguments", "read_only_hint"))


def _load_result(item: Any) -> dict[str, Any]:
    """``_RESULT.load(item)`` for a well-formed item without marshmallow, as :func:`_load_call`."""
    if type(item) is dict and item.keys() <= _LEAN_RESULT_KEYS:
        execution_id, result_hash = item.get("execution_id"), item.get("result_hash")
        is_error = item.get("is_error", False)
        if (type(execution_id) is str and _EXECUTION_ID.match(execution_id) and type(result_hash) is str
                and _HASH.match(result_hash) and type(is_error) is bool):
            return {"result_hash": result_hash, "is_error": is_error, "execution_id": execution_id}
    return _RESULT.load(item)


_LEAN_RESULT_KEYS = frozenset(("execution_id", "result_hash", "is_error"))


def _failed(exc: errors.HesoError) -> dict[str, Any]:
    return {"status": exc.status, "error": {"error": exc.code, "message": exc.message, "details": exc.details}}


def _invalid(exc: ma.ValidationError) -> dict[str, Any]:
    messages = exc.normalized_messages()
    fields = ", ".join(sorted(messages)) if isinstance(messages, dict) else ""
    return _failed(errors.ValidationFailed(f"Invalid item: {fields}." if fields else "Invalid item.",
                                           details={"json": messages}))


def _answered(row: ExecutionRequest, replayed: bool) -> dict[str, Any]:
    return {"status": 200, "replayed": replayed, "result": service.view(row)}


@dataclass
class _Call:
    index: int
    data: dict[str, Any]
    body: dict[str, Any]
    request_hash: str
    execution_id: str


def authorize(principal: Principal, items: list[Any]) -> list[dict[str, Any]]:
    """Decide every tool call of a batch; one answer per item, in order.

    New call ids (the common case): one head read, one multi-row INSERT of the rows and one of
    their ledger entries, one commit. A known id anywhere in the batch (a re-send) fails that
    INSERT as a whole: then every call goes the single-call way, which resumes or refuses each.
    """
    agents.ensure_active(principal)  # the whole batch is one agent's: 403 AGENT_PAUSED for all
    answers: list[dict[str, Any] | None] = [None] * len(items)
    calls = []
    for index, item in enumerate(items):
        try:
            data = _load_call(item)
            calls.append(_Call(index, data, *service.prepare(principal, "tool", data)))
        except ma.ValidationError as exc:
            answers[index] = _invalid(exc)
        except errors.HesoError as exc:
            answers[index] = _failed(exc)
    if calls:
        try:
            decided = _write(principal, calls, answers)
        except IntegrityError:
            db.session.rollback()
            decided = []
            for call in calls:  # one by one: resume or refuse the known ids, write the new ones
                answers[call.index] = _one(principal, call.data)
        for call, row_id, values in decided:
            try:
                answers[call.index] = _answered(service.written(principal, row_id, values), False)
            except errors.HesoError as exc:
                db.session.rollback()
                answers[call.index] = _failed(exc)
    assert all(answer is not None for answer in answers), "every item was answered"
    return answers  # type: ignore[return-value]


def _write(principal: Principal, calls: list[_Call],
           answers: list[dict[str, Any] | None]) -> list[tuple[_Call, int, dict[str, Any]]]:
    """Ask policy for each call and write the allowed, denied and held ones together.

    PostgreSQL with no transaction open (as the single call, :mod:`heso.oneshot`): the head read
    (none when this process has the head cached) and one statement writing every row and ledger
    entry, in autocommit on the raw driver connection (:mod:`heso.execution.direct`). Else
    (SQLite, or a grant's use or a policy-sync claim opened the session's transaction): through
    the session, committed together."""
    alone, active = service.active_policy(principal)
    decided, rows, entries = _decide_all(principal, calls, active, answers)
    if not rows:
        db.session.commit()  # a policy-sync claim, if any
        return []
    if alone and not oneshot.in_transaction():
        statement, params = _insert_with_ledger(rows, entries)
        returned: Sequence[tuple[Any, ...]]
        if direct.available():
            returned = direct.all_rows(statement, params)
        else:
            with oneshot.autocommit() as connection:
                returned = connection.execute(statement, params).tuples().all()
        ids: dict[str, int] = dict(returned)
        return [(call, ids[call.execution_id], values) for call, values in zip(decided, rows, strict=True)]
    row_ids = db.session.scalars(_insert_rows(), rows).all()
    ledger.append_many(entries)
    db.session.commit()
    return list(zip(decided, row_ids, rows, strict=True))


def _decide_all(principal: Principal, calls: list[_Call], active: runtime.Active,
                answers: list[dict[str, Any] | None]) -> tuple[list[_Call], list[dict[str, Any]], list[dict[str, Any]]]:
    decided, rows, entries = [], [], []
    for call in calls:
        try:
            values, entry = service.decide(principal, "tool", call.body, call.request_hash, call.execution_id,
                                           active)
        except errors.HesoError as exc:  # e.g. routed to a channel that is not installed
            answers[call.index] = _failed(exc)
            continue
        decided.append(call)
        rows.append(values)
        entries.append(entry)
    return decided, rows, entries


def _insert_with_ledger(rows: list[dict[str, Any]],
                        entries: list[dict[str, Any]]) -> tuple[TextClause, dict[str, Any]]:
    """``WITH ledger AS (INSERT INTO ledger_entries …) INSERT INTO execution_requests …
    RETURNING execution_id, id``: one statement, so the rows and their entries commit together or
    not at all (a known call id fails it as a whole).

    The rows and the entries go as two JSON arrays (``json_to_recordset``): the text is the same
    for every batch size, so SQLAlchemy compiles it once, psycopg converts it once and
    PostgreSQL prepares it once, and the values cost one ``json.dumps``. Built with ``VALUES
    (…), (…)`` per batch, compiling it was half of a batch's CPU; with a typed array per column,
    psycopg's escaping of every element a sixth."""
    if rows and rows[0].keys() != _ROW_COLUMNS.keys():  # a column added to service.decide() must be added here
        raise RuntimeError(f"tool call columns {sorted(rows[0])} are not the batch statement's {sorted(_ROW_COLUMNS)}")
    return _INSERT_ROWS_AND_LEDGER, {"rows": _records(rows, _ROW_COLUMNS),
                                     "entries": _records(entries, _LEDGER_COLUMNS)}


def _records(values: list[dict[str, Any]], columns: dict[str, str]) -> str:
    """A JSON array of the rows, numbered (``n``) to keep their order. A JSON document goes as
    the text ``json.dumps`` makes of it, which the column stores, as its type writes it on a
    single call (None is SQL NULL, as ``JSONDoc`` on PostgreSQL)."""
    documents = [name for name, kind in columns.items() if kind == "json"]
    return json.dumps([{**row, "n": n, **{name: None if row[name] is None else json.dumps(row[name])
                                          for name in documents}} for n, row in enumerate(values)],
                      default=timestamptz_json)


#: The columns a tool call's row and its ledger entry are written with (service.decide's values),
#: as ``json_to_recordset`` reads them (a JSON document as text, cast when inserted).
_ROW_COLUMNS = {
    "team_id": "varchar", "execution_id": "varchar", "kind": "varchar", "request": "json", "request_hash": "varchar",
    "outcome": "varchar", "effect": "varchar", "matched_rule": "json", "floor": "varchar",
    "policy_version": "varchar", "bundle_id": "bigint", "approval": "json", "decision_id": "varchar",
    "resolution": "varchar", "created_by": "varchar", "created_at": "timestamptz", "resolved_at": "timestamptz",
    "grant_id": "varchar",
}
_LEDGER_COLUMNS = {"team_id": "varchar", "event": "varchar", "subject_id": "varchar", "actor": "varchar",
                   "data": "json", "created_at": "timestamptz"}


def _selected(columns: dict[str, str]) -> str:
    return ", ".join(f"CAST({name} AS json)" if kind == "json" else name for name, kind in columns.items())


def _records_of(columns: dict[str, str], parameter: str) -> str:
    read = ", ".join(f"{name} {'text' if kind == 'json' else kind}" for name, kind in columns.items())
    return f"json_to_recordset(CAST(:{parameter} AS json)) AS given({read}, n int) ORDER BY n"


_INSERT_ROWS_AND_LEDGER = text(f"""
WITH ledger AS (
    INSERT INTO ledger_entries ({", ".join(_LEDGER_COLUMNS)}, sealed)
    SELECT {_selected(_LEDGER_COLUMNS)}, false FROM {_records_of(_LEDGER_COLUMNS, "entries")}
)
INSERT INTO execution_requests ({", ".join(_ROW_COLUMNS)})
SELECT {_selected(_ROW_COLUMNS)} FROM {_records_of(_ROW_COLUMNS, "rows")}
RETURNING execution_id, id
""")


def _one(principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
    try:
        row, replayed = service.submit(principal, "tool", data)
        return _answered(row, replayed)
    except errors.HesoError as exc:
        db.session.rollback()
        return _failed(exc)


@functools.cache
def _insert_rows() -> ReturningInsert[Any]:
    """Many rows in one INSERT (SQLAlchemy's "insertmanyvalues"), their ids in the rows' order."""
    table = ExecutionRequest.__table__
    return table.insert().returning(table.c.id, sort_by_parameter_order=True)


# --- results ----------------------------------------------------------------------------------------


def record_results(principal: Principal, items: list[Any]) -> list[dict[str, Any]]:
    """Record the result hashes of many allowed calls; one answer per item, in order.

    One query for the whole batch (the calls, locked, with the results already recorded),
    one multi-row INSERT of the new ledger entries, one commit. Per item, as
    ``POST /v1/execution/{id}/result`` would answer: 404 for an id this team does not have
    (another team's included: nothing about it is told), 409 for a call that was not allowed
    or already has another result, ``replayed`` for the same result again.
    """
    answers: list[dict[str, Any] | None] = [None] * len(items)
    loaded: list[tuple[int, dict[str, Any]]] = []
    for index, item in enumerate(items):
        try:
            loaded.append((index, _load_result(item)))
        except ma.ValidationError as exc:
            answers[index] = _invalid(exc)
    ids = sorted({data["execution_id"] for _, data in loaded})
    calls: dict[str, Any] = {}
    recorded: dict[str, dict[str, Any]] = {}
    for found in db.session.execute(_calls(), {"team_id": principal.team_id, "ids": ids}) if ids else ():
        calls[found.execution_id] = found
        if (found.recorded is not None and found.recorded_team == principal.team_id
                and found.event == f"{found.kind}.completed"):  # another team's entry for the same id: not ours
            recorded[found.execution_id] = found.recorded
    entries = []
    for index, data in loaded:
        execution_id = data["execution_id"]
        row = calls.get(execution_id)
        try:
            if row is None:
                raise errors.NotFound(f"No execution request {execution_id!r}.", details={"execution_id": execution_id})
            if row.outcome != "allow":
                raise errors.Conflict(
                    f"Execution {execution_id!r} is {row.outcome}, not allowed: it has no result to record.",
                    details={"execution_id": execution_id, "outcome": row.outcome})
        except errors.HesoError as exc:
            answers[index] = _failed(exc)
            continue
        result = {"result_hash": data["result_hash"], "is_error": data["is_error"],
                  "arguments_digest": service.arguments_digest(row.request)}
        previous = recorded.get(execution_id)
        if previous is None:
            recorded[execution_id] = result
            entries.append(ledger.entry(principal.team_id, f"{row.kind}.completed", execution_id,
                                        actor=principal.key_id, data=result))
            answers[index] = {"status": 200, "replayed": False, "result": {"execution_id": execution_id, **result}}
        elif (previous.get("result_hash"), previous.get("is_error")) == (data["result_hash"], data["is_error"]):
            answers[index] = {"status": 200, "replayed": True, "result": {"execution_id": execution_id, **result}}
        else:
            answers[index] = _failed(errors.Conflict(
                f"Execution {execution_id!r} already has another result recorded.",
                details={"execution_id": execution_id, "result_hash": previous.get("result_hash")}))
    if entries and db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(_INSERT_LEDGER, {"entries": _records(entries, _LEDGER_COLUMNS)})
    else:
        ledger.append_many(entries)
    db.session.commit()
    assert all(answer is not None for answer in answers), "every item was answered"
    return answers  # type: ignore[return-value]


#: The result entries of a batch, as the tool calls' (one JSON array, a statement compiled and
#: prepared once): ``ledger.append_many``'s typed arrays had psycopg escape every element by
#: regular expression, about a tenth of a result batch's CPU.
_INSERT_LEDGER = text(f"""
INSERT INTO ledger_entries ({", ".join(_LEDGER_COLUMNS)}, sealed)
SELECT {_selected(_LEDGER_COLUMNS)}, false FROM {_records_of(_LEDGER_COLUMNS, "entries")}
""")


# --- answers ----------------------------------------------------------------------------------------


def dumped(answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The answers as ``ToolCallOutcomeSchema(many=True)`` or ``ToolResultOutcomeSchema(many=True)``
    dumps them, without marshmallow (a tenth of a small batch's CPU): the items are built here
    with the declared types, so the dump only formats a call's times and keeps the declared
    keys of its rule (tests/execution/test_batches.py compares both)."""
    return [_dumped(answer) for answer in answers]


def _dumped(answer: dict[str, Any]) -> dict[str, Any]:
    result = answer.get("result")
    if result is None or "created_at" not in result:  # an error, or a recorded result: as it is
        return answer
    view = dict(result)
    view["created_at"], view["resolved_at"] = isoformat(view["created_at"]), isoformat(view["resolved_at"])
    view["expires_at"] = isoformat(view["expires_at"])
    rule = view["matched_rule"]
    if rule is not None:
        view["matched_rule"] = {key: rule[key] for key in _RULE_KEYS if key in rule}
    return {**answer, "result": view}


_RULE_KEYS = ("index", "id", "effect")  # RuleRefSchema


@functools.cache
def _calls() -> Select[Any]:
    """The batch's calls of this team, each with the result already recorded (if any), the calls
    locked: two results for one call never both pass the checks. One query for the batch.

    The recorded entries are joined by subject id and event alone, their team compared by the
    caller (``recorded_team``): with the team in the join, PostgreSQL derives ``team_id = :team``
    for the ledger too, and without fresh statistics (a new or fast-growing ledger) it ANDed the
    subject's index with a scan of *every* entry of the team on the ``(team_id, sealed, id)``
    index, once per call: 22-58 ms for a batch of 60 at 4,200 entries, growing with the ledger;
    1.6 ms by the subject's index alone."""
    recorded = LedgerEntry.__table__.alias("recorded")
    return (select(ExecutionRequest.execution_id, ExecutionRequest.kind, ExecutionRequest.outcome,
                   ExecutionRequest.request, recorded.c.event, recorded.c.data.label("recorded"),
                   recorded.c.team_id.label("recorded_team"))
            .outerjoin(recorded, and_(recorded.c.subject_id == ExecutionRequest.execution_id,
                                      recorded.c.event.in_(("tool.completed", "execution.completed"))))
            .where(ExecutionRequest.team_id == bindparam("team_id"),
                   ExecutionRequest.execution_id.in_(bindparam("ids", expanding=True)))
            .order_by(ExecutionRequest.id).with_for_update(of=ExecutionRequest.__table__))
