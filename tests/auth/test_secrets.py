"""RELIABILITY #16 for people: no code, link, session token or key in the database in clear, nor
in any log line, the web server's access log included (a real HTTP server, its log captured)."""

from __future__ import annotations

import logging

import requests
from sqlalchemy import text

from heso.extensions import db
from tests.auth.people import add_member, mailed_code, mailed_link
from tests.helpers import serve_wsgi


def test_no_secret_of_the_sign_in_flow_reaches_the_database_or_a_log(mail_app, smtp, team, caplog):
    add_member(mail_app, team.id, "ana@example.com", "approver")
    caplog.set_level(logging.DEBUG)  # every logger, werkzeug's request log included
    secrets: list[str] = []
    with serve_wsgi(mail_app) as url:
        http = requests.Session()
        assert http.post(f"{url}/v1/auth/email/request", json={"email": "ana@example.com"}).status_code == 200
        code = mailed_code(smtp, "ana@example.com")
        _, link_token = mailed_link(smtp, "ana@example.com")
        secrets += [code, link_token]
        signed_in = http.post(f"{url}/auth/link", data={"token": link_token, "confirm": "1"})  # the page's button
        assert signed_in.status_code == 200 and "Signed in as" in signed_in.text
        cookie_token = http.cookies["heso_session"]
        secrets.append(cookie_token)
        assert http.get(f"{url}/v1/auth/me").status_code == 200
        http.post(f"{url}/v1/auth/email/request", json={"email": "ana@example.com"})
        second_code = mailed_code(smtp, "ana@example.com")
        verified = requests.post(f"{url}/v1/auth/email/verify", json={"email": "ana@example.com",
                                                                       "code": second_code})
        bearer = verified.json()["token"]
        secrets += [second_code, bearer]
        key = requests.post(f"{url}/v1/keys", json={"scopes": ["approver"]},
                            headers={"Authorization": f"Bearer {bearer}"}).json()["key"]
        secrets.append(key)
        assert requests.get(f"{url}/v1/decisions", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        requests.delete(f"{url}/v1/auth/session", headers={"Authorization": f"Bearer {bearer}"})
        invited = requests.post(f"{url}/v1/members", json={"email": "new@example.com"}, headers=team.headers())
        assert invited.status_code == 201
        secrets.append(mailed_link(smtp, "new@example.com")[1])
    assert any("GET /v1/auth/me" in record.getMessage() for record in caplog.records), "the access log was captured"
    # Every log line but the test SMTP server's own (aiosmtpd's "mail.log"): it is the mailbox, not HESO.
    logged = "\n".join(record.getMessage() for record in caplog.records if not record.name.startswith("mail.log"))
    with mail_app.app_context():
        dump = "\n".join(repr(row) for table in db.metadata.sorted_tables
                         for row in db.session.execute(text(f"SELECT * FROM {table.name}")))
    for secret in secrets:
        assert secret not in logged
        assert secret not in dump
    # The six-digit codes are not findable either (they are HMACs, not plain hashes).
    assert len(secrets) == 7
