"""Numbers from outside are ASCII digits: str.isdigit() also accepts "²" and other scripts'
digits, which int() refuses, so a check with isdigit() alone turned such input into a 500."""

from datetime import UTC, datetime

from heso.channels.safe_http import retry_after_seconds


def test_a_long_poll_with_a_superscript_wait_is_a_clean_answer(client, team):
    answer = client.get("/v1/decisions?wait=\u00b2", headers=team.headers())
    assert answer.status_code in (200, 422), answer.get_data(as_text=True)[:300]
    assert "error" not in (answer.json or {}) or answer.json["error"] == "VALIDATION_ERROR"


def test_a_retry_after_in_other_digits_is_ignored_not_a_crash():
    assert retry_after_seconds("\u00b2", now=datetime(2026, 1, 1, tzinfo=UTC)) is None
    assert retry_after_seconds("\u0661\u0662", now=datetime(2026, 1, 1, tzinfo=UTC)) is None  # Arabic-Indic 12
    assert retry_after_seconds("12", now=datetime(2026, 1, 1, tzinfo=UTC)) == 12
