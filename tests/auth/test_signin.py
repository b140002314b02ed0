"""Sign-in by emailed code or link (RELIABILITY #26): single use, 15 minutes, hashed, throttled,
burned after five wrong codes, the same answer for unknown and known addresses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from heso.auth.models import SignInRequest
from heso.extensions import db
from heso.timeutil import utcnow
from tests.auth.people import add_member, bearer, mailed_code, mailed_link, sign_in
from tests.test_errors import assert_envelope

ANA = "ana@example.com"


@pytest.fixture
def ana(mail_app, team):
    return add_member(mail_app, team.id, ANA, "approver", status="invited")


def test_the_answer_is_the_same_for_unknown_and_known_addresses(client, smtp, ana):
    known = client.post("/v1/auth/email/request", json={"email": ANA})
    unknown = client.post("/v1/auth/email/request", json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert {**known.json, "email": None} == {**unknown.json, "email": None}
    assert len(smtp.mailbox.to(ANA)) == 1 and smtp.mailbox.to("nobody@example.com") == []


def test_a_mailed_code_starts_a_session_and_activates_an_invited_member(client, smtp, ana):
    session = sign_in(client, smtp, ANA.upper())  # addresses compare case-insensitively
    assert session["member"]["email"] == ANA and session["member"]["status"] == "active"
    assert session["token"].startswith("hesos_")
    me = client.get("/v1/auth/me", headers=bearer(session["token"]))
    assert me.status_code == 200
    assert (me.json["member"]["id"], me.json["credential"], me.json["scopes"]) == (ana, "session", ["approver"])


def test_the_session_cookie_is_httponly_and_samesite_lax(client, smtp, ana):
    client.post("/v1/auth/email/request", json={"email": ANA})
    response = client.post("/v1/auth/email/verify", json={"email": ANA, "code": mailed_code(smtp, ANA)})
    [cookie] = [value for value in response.headers.getlist("Set-Cookie") if value.startswith("heso_session=")]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie  # http:// PUBLIC_URL
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.app_config(PUBLIC_URL="https://heso.example.com")
def test_the_cookie_is_secure_behind_https(client, smtp, ana):
    client.post("/v1/auth/email/request", json={"email": ANA})
    response = client.post("/v1/auth/email/verify", json={"email": ANA, "code": mailed_code(smtp, ANA)})
    assert all("Secure" in value for value in response.headers.getlist("Set-Cookie"))


def test_a_code_works_once(client, smtp, ana):
    client.post("/v1/auth/email/request", json={"email": ANA})
    code = mailed_code(smtp, ANA)
    assert client.post("/v1/auth/email/verify", json={"email": ANA, "code": code}).status_code == 200
    assert_envelope(client.post("/v1/auth/email/verify", json={"email": ANA, "code": code}), 401, "INVALID_CODE")


def test_an_expired_code_is_refused(client, smtp, ana, mail_app):
    client.post("/v1/auth/email/request", json={"email": ANA})
    with mail_app.app_context():
        db.session.execute(update(SignInRequest).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert_envelope(client.post("/v1/auth/email/verify", json={"email": ANA, "code": mailed_code(smtp, ANA)}),
                    401, "INVALID_CODE")


def test_codes_expire_after_15_minutes(client, ana, mail_app):
    client.post("/v1/auth/email/request", json={"email": ANA})
    with mail_app.app_context():
        row = db.session.query(SignInRequest).one()
        assert row.expires_at - row.created_at == timedelta(minutes=15)


def test_a_code_for_another_email_is_refused(client, smtp, ana, mail_app, team):
    add_member(mail_app, team.id, "ben@example.com")
    client.post("/v1/auth/email/request", json={"email": ANA})
    client.post("/v1/auth/email/request", json={"email": "ben@example.com"})
    assert_envelope(client.post("/v1/auth/email/verify", json={"email": "ben@example.com",
                                                                "code": mailed_code(smtp, ANA)}),
                    401, "INVALID_CODE") if mailed_code(smtp, ANA) != mailed_code(smtp, "ben@example.com") else None
    # Ana's code still works for Ana: Ben's attempt did not consume it.
    assert client.post("/v1/auth/email/verify", json={"email": ANA, "code": mailed_code(smtp, ANA)}).status_code == 200


def test_a_new_request_replaces_the_previous_code(client, smtp, ana):
    client.post("/v1/auth/email/request", json={"email": ANA})
    first = mailed_code(smtp, ANA)
    client.post("/v1/auth/email/request", json={"email": ANA})
    second = mailed_code(smtp, ANA)
    if first != second:
        assert_envelope(client.post("/v1/auth/email/verify", json={"email": ANA, "code": first}), 401, "INVALID_CODE")
    assert client.post("/v1/auth/email/verify", json={"email": ANA, "code": second}).status_code == 200


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_five_wrong_codes_burn_the_request(client, smtp, ana):
    client.post("/v1/auth/email/request", json={"email": ANA})
    code = mailed_code(smtp, ANA)
    for _ in range(5):
        assert_envelope(client.post("/v1/auth/email/verify", json={"email": ANA, "code": _wrong(code)}),
                        401, "INVALID_CODE")
    # The right code no longer works: the request is burned.
    assert_envelope(client.post("/v1/auth/email/verify", json={"email": ANA, "code": code}), 401, "INVALID_CODE")


def test_wrong_codes_are_throttled_per_email(client, smtp, ana, mail_app):
    mail_app.config["SIGN_IN_FAILURES_PER_EMAIL"] = 3
    for _ in range(3):
        client.post("/v1/auth/email/verify", json={"email": ANA, "code": "000000"})
    client.post("/v1/auth/email/request", json={"email": ANA})
    refused = client.post("/v1/auth/email/verify", json={"email": ANA, "code": mailed_code(smtp, ANA)})
    assert_envelope(refused, 429, "RATE_LIMITED")
    assert int(refused.headers["Retry-After"]) > 0


def test_wrong_codes_are_throttled_per_client_address(client, smtp, ana, mail_app, team):
    mail_app.config["SIGN_IN_FAILURES_PER_ADDRESS"] = 3
    for number in range(3):  # three different addresses guessed from one client
        client.post("/v1/auth/email/verify", json={"email": f"guess{number}@example.com", "code": "000000"})
    client.post("/v1/auth/email/request", json={"email": ANA})
    assert_envelope(client.post("/v1/auth/email/verify", json={"email": ANA, "code": mailed_code(smtp, ANA)}),
                    429, "RATE_LIMITED")


def test_the_link_starts_a_session_once_and_keeps_its_secret_out_of_the_url_path(client, smtp, ana):
    client.post("/v1/auth/email/request", json={"email": ANA})
    url, token = mailed_link(smtp, ANA)
    assert url.endswith("/auth/link")  # the token is after '#': browsers never send it to a server
    assert client.post("/v1/auth/link", json={"token": token}).status_code == 200
    assert_envelope(client.post("/v1/auth/link", json={"token": token}), 401, "INVALID_CODE")


def test_the_link_page_changes_nothing_on_get(client, smtp, ana):
    """Mail scanners open links: a GET (or HEAD) shows a button and signs nobody in."""
    client.post("/v1/auth/email/request", json={"email": ANA})
    _, token = mailed_link(smtp, ANA)
    for method in (client.get, client.head):
        page = method(f"/auth/link?token={token}")
        assert page.status_code == 200 and "heso_session" not in page.headers.get("Set-Cookie", "")
    signed_in = client.post("/auth/link", data={"token": token, "confirm": "1"})
    assert signed_in.status_code == 303 and "heso_session=" in signed_in.headers.get("Set-Cookie", "")
    assert ANA in client.get("/").text  # the console, signed in


def test_the_browser_sign_in_pages(client, smtp, ana):
    assert "Email me a code" in client.get("/auth/sign-in").text
    assert "Check your email" in client.post("/auth/sign-in", data={"email": ANA}).text
    wrong = client.post("/auth/sign-in", data={"email": ANA, "code": _wrong(mailed_code(smtp, ANA))})
    assert wrong.status_code == 401 and "wrong" in wrong.text
    done = client.post("/auth/sign-in", data={"email": ANA, "code": mailed_code(smtp, ANA), "next": "/audit"})
    assert done.status_code == 303 and done.headers["Location"] == "/audit"  # on to the page asked for
    assert "Signed in as" in client.get("/").text


def test_sign_in_creates_a_new_session_token_whatever_cookie_came_with_it(client, smtp, ana):
    """Session fixation: a token planted before sign-in is never adopted."""
    client.set_cookie("heso_session", "hesos_aaaaaaaaaaaa_" + "A" * 43)
    session = sign_in(client, smtp, ANA)
    assert session["token"] != "hesos_aaaaaaaaaaaa_" + "A" * 43
    assert_envelope(client.get("/v1/auth/me", headers=bearer("hesos_aaaaaaaaaaaa_" + "A" * 43)),
                    401, "INVALID_SESSION")


def test_a_disabled_member_cannot_sign_in(client, smtp, ana, team):
    assert client.patch(f"/v1/members/{ana}", json={"status": "disabled"}, headers=team.headers()).status_code == 200
    client.post("/v1/auth/email/request", json={"email": ANA})
    assert smtp.mailbox.to(ANA) == []


def test_a_member_of_two_teams_chooses_one(client, smtp, ana, mail_app, other_team, team):
    add_member(mail_app, other_team.id, ANA)
    client.post("/v1/auth/email/request", json={"email": ANA})
    code = mailed_code(smtp, ANA)
    ambiguous = client.post("/v1/auth/email/verify", json={"email": ANA, "code": code})
    assert_envelope(ambiguous, 409, "CONFLICT")
    assert {team_["id"] for team_ in ambiguous.json["details"]["teams"]} == {team.id, other_team.id}
    chosen = client.post("/v1/auth/email/verify", json={"email": ANA, "code": code, "team_id": other_team.id})
    assert chosen.status_code == 200 and chosen.json["team"]["id"] == other_team.id


@pytest.mark.parametrize("body", [{}, {"email": "not-an-email"}, {"email": ANA, "extra": 1},
                                  {"email": "a" * 400 + "@example.com"}])
def test_malformed_requests_are_422(client, body):
    assert_envelope(client.post("/v1/auth/email/request", json=body), 422, "VALIDATION_ERROR")


@pytest.mark.parametrize("body", [{"email": ANA, "code": "12345"}, {"email": ANA, "code": "abcdef"},
                                  {"email": ANA}, {"code": "123456"}])
def test_malformed_verifications_are_422(client, body):
    assert_envelope(client.post("/v1/auth/email/verify", json=body), 422, "VALIDATION_ERROR")


def test_the_operator_prints_a_sign_in_link_before_any_mail_server_exists(app, client, heso):
    """`make run`, `heso init --email`, then `heso members sign-in-link`: the way in with no SMTP."""
    heso("init", "--email", "me@example.com")
    output = heso("members", "sign-in-link", "Me@Example.com").output
    url = next(word for word in output.split() if "/auth/link#token=" in word)
    token = url.split("#token=", 1)[1]
    signed_in = client.post("/auth/link", data={"token": token, "confirm": "1"})
    assert signed_in.status_code == 303 and "me@example.com" in client.get("/").text
    assert client.post("/auth/link", data={"token": token, "confirm": "1"}).status_code == 401  # once only
    assert "no active member" in heso("members", "sign-in-link", "nobody@example.com", exit_code=1).output
