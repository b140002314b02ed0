"""docs/api.md's *Objects* tables name every field of the main response schemas, so a field
added to a schema without its line in the docs fails here."""

import re
from pathlib import Path

import pytest

from heso.agents.schemas import AgentSchema, EventSchema, EventsSchema, RegisteredSchema, RotatedSchema
from heso.approvals.schemas import OpenApprovalResultSchema, PollApprovalResultSchema, SettledApprovalSchema
from heso.auth.schemas import KeyCreatedSchema, WhoAmISchema
from heso.decisions.schemas import DecisionSchema
from heso.receipts.schemas import ReceiptViewSchema

API = Path(__file__).resolve().parent.parent / "docs" / "api.md"

#: docs/api.md heading -> the response schemas whose fields its tables document.
SECTIONS = {
    "The decision object": [DecisionSchema],
    "The agent object": [AgentSchema, RegisteredSchema, RotatedSchema],
    "The event object": [EventsSchema, EventSchema],
    "The receipt view": [ReceiptViewSchema],
    "The approval objects": [OpenApprovalResultSchema, PollApprovalResultSchema, SettledApprovalSchema],
    "The key object": [KeyCreatedSchema],
    "The calling key (`GET /v1/keys/me`)": [WhoAmISchema],
}


def section(title: str) -> str:
    text = API.read_text()
    match = re.search(rf"^### {re.escape(title)}\n(.*?)(?=^##)", text, re.S | re.M)
    assert match, f"docs/api.md has no section '### {title}'"
    return match.group(1)


def documented_fields(title: str) -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", section(title), re.M))


def shown_fields(schema: type) -> set[str]:
    return {field.data_key or name for name, field in schema().dump_fields.items()}


CASES = [(title, schema) for title, schemas in SECTIONS.items() for schema in schemas]


@pytest.mark.parametrize(("title", "schema"), CASES, ids=[schema.__name__ for _, schema in CASES])
def test_every_response_field_is_documented(title, schema):
    missing = shown_fields(schema) - documented_fields(title)
    assert not missing, f"docs/api.md '### {title}' lacks the fields {sorted(missing)} of {schema.__name__}"


@pytest.mark.parametrize("title", sorted(SECTIONS))
def test_no_documented_field_is_stale(title):
    shown = set().union(*(shown_fields(schema) for schema in SECTIONS[title]))
    stale = documented_fields(title) - shown
    assert not stale, f"docs/api.md '### {title}' documents {sorted(stale)}, which no schema shows"


def test_the_check_sees_a_missing_field(tmp_path, monkeypatch):
    # docs/api.md without the approve_votes row: the check names exactly that field.
    text = API.read_text()
    edited = tmp_path / "api.md"
    edited.write_text(re.sub(r"^\| `approve_votes` \|.*\n", "", text, flags=re.M))
    monkeypatch.setitem(globals(), "API", edited)
    assert shown_fields(DecisionSchema) - documented_fields("The decision object") == {"approve_votes"}
