"""HESO_SMTP_URL: its forms, and STARTTLS, implicit TLS and AUTH against a real server."""

import shutil
import ssl
import subprocess

import pytest
from aiosmtpd.smtp import AuthResult

from heso.smtp import SmtpServer
from tests.factories import create_decision
from tests.plugins.channels.email.conftest import notification, send
from tests.smtp_server import Mailbox, start_smtp


@pytest.fixture
def database_url(tmp_path_factory):
    """SQLite only: these tests are about the SMTP client, not about the database."""
    return f"sqlite:///{tmp_path_factory.getbasetemp() / 'heso-test.db'}"


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=30)
    return cert, key


@pytest.fixture
def server_tls(certificate, monkeypatch):
    """The server's TLS context; the client trusts the certificate through SSL_CERT_FILE."""
    cert, key = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
def serve():
    controllers = []

    def start(**kwargs):
        mailbox = Mailbox()
        controllers.append(start_smtp(mailbox, **kwargs))
        return mailbox, controllers[-1].port

    yield start
    for controller in controllers:
        controller.stop()


def check_login(logins):
    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        ok = (auth_data.login, auth_data.password) == (b"heso", b"p@ss:w/rd")
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself
    return authenticator


@pytest.mark.parametrize(("url", "expected"), [
    ("smtp://mail.example.com", SmtpServer("mail.example.com", 25, False, False)),
    ("smtps://mail.example.com", SmtpServer("mail.example.com", 465, True, False)),
    ("smtp://u%40x:p%3Aw@mail.example.com:587?starttls=true",
     SmtpServer("mail.example.com", 587, False, True, "u@x", "p:w")),
    ("smtp://relay:secret@127.0.0.1:2525", SmtpServer("127.0.0.1", 2525, False, False, "relay", "secret")),
])
def test_url_forms(url, expected):
    assert SmtpServer.from_url(url) == expected


@pytest.mark.parametrize(("url", "says"), [
    ("mail.example.com:25", "must look like"),
    ("smtp://mail.example.com:99999", "invalid port"),
    ("smtp://mail.example.com?starttls=maybe", "starttls must be true or false"),
    ("smtp://mail.example.com?ssl=true", "unknown parameters ['ssl']"),
    ("smtp://u:hunter2@mail.example.com:25", "without TLS"),
])
def test_bad_urls_say_what_is_wrong_without_the_password(url, says):
    with pytest.raises(ValueError, match="HESO_SMTP_URL") as error:
        SmtpServer.from_url(url)
    assert says in str(error.value) and "hunter2" not in str(error.value)


def test_starttls_and_login(app, client, team, server_tls, serve):
    logins = []
    mailbox, port = serve(tls_context=server_tls, require_starttls=True, auth_required=True,
                          authenticator=check_login(logins))
    app.config["SMTP_URL"] = f"smtp://heso:p%40ss%3Aw%2Frd@127.0.0.1:{port}?starttls=true"
    result = send(app, notification(app, team, create_decision(client, team)))
    assert result.ok, result
    assert logins == [(b"heso", b"p@ss:w/rd")]
    assert [rcpts for _, rcpts, _ in mailbox.messages] == [["sarah@example.com"]]


def test_wrong_password_is_permanent(app, client, team, server_tls, serve):
    _, port = serve(tls_context=server_tls, require_starttls=True, auth_required=True, authenticator=check_login([]))
    app.config["SMTP_URL"] = f"smtp://heso:wrong@127.0.0.1:{port}?starttls=true"
    result = send(app, notification(app, team, create_decision(client, team)))
    assert not result.ok and result.permanent and result.status_code == 535


def test_implicit_tls(app, client, team, server_tls, serve):
    mailbox, port = serve(ssl_context=server_tls)
    app.config["SMTP_URL"] = f"smtps://127.0.0.1:{port}"
    assert send(app, notification(app, team, create_decision(client, team))).ok
    assert len(mailbox.messages) == 1


def test_an_untrusted_certificate_is_refused_and_retried(app, client, team, certificate, serve):
    cert, key = certificate  # SSL_CERT_FILE not set: the self-signed certificate is not trusted
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    mailbox, port = serve(ssl_context=context)
    app.config["SMTP_URL"] = f"smtps://127.0.0.1:{port}"
    result = send(app, notification(app, team, create_decision(client, team)))
    assert not result.ok and not result.permanent and "CERTIFICATE_VERIFY_FAILED" in result.error
    assert mailbox.messages == []


def test_starttls_demanded_but_not_offered_is_permanent(app, client, team, serve):
    mailbox, port = serve()
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}?starttls=true"
    result = send(app, notification(app, team, create_decision(client, team)))
    assert not result.ok and result.permanent and "STARTTLS" in result.error
    assert mailbox.messages == []
