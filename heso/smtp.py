"""SMTP for the core and the email channel: ``HESO_SMTP_URL`` parsing, one connection per send, failures classified.

Classification follows SMTP's own reply classes (RFC 5321 §4.2.1): a 4xx reply is
"try again later" (retry), a 5xx reply is "do not repeat this" (permanent). A server we
cannot reach, that times out or drops the connection is an outage, so it is retried.
"""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to submit mail."""

    host: str
    port: int
    implicit_tls: bool  # smtps://: TLS from the first byte
    starttls: bool  # smtp://…?starttls=true: upgrade, and fail if the server cannot
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """Parse ``smtp://[user:pass@]host[:port][?starttls=true]`` or ``smtps://…``.

        Raises ``ValueError`` naming ``HESO_SMTP_URL``: a typo must not look like an outage.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"HESO_SMTP_URL must look like smtp://host:25 or smtps://host:465, got {_redact(url)!r}")
        try:
            port = parts.port or (465 if parts.scheme == "smtps" else 25)
        except ValueError:
            raise ValueError(f"HESO_SMTP_URL has an invalid port: {_redact(url)!r}") from None
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = set(query) - {"starttls"}
        if unknown:
            raise ValueError(f"HESO_SMTP_URL has unknown parameters {sorted(unknown)}; only 'starttls' is known")
        starttls_value = (query.get("starttls") or ["false"])[-1].lower()
        if starttls_value not in _TRUE | _FALSE:
            raise ValueError(f"HESO_SMTP_URL: starttls must be true or false, got {starttls_value!r}")
        server = cls(
            host=parts.hostname, port=port, implicit_tls=parts.scheme == "smtps",
            starttls=starttls_value in _TRUE and parts.scheme == "smtp",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )
        if server.username and not (server.implicit_tls or server.starttls or _is_loopback(server.host)):
            raise ValueError("HESO_SMTP_URL sends a password without TLS to a remote server; "
                             "use smtps:// or add ?starttls=true")
        return server


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Outcome:
    """What happened to one recipient's message."""

    recipient: str
    ok: bool
    code: int | None = None
    error: str | None = None
    permanent: bool = False


def _reply_outcome(recipient: str, code: int, text: bytes | str) -> Outcome:
    message = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return Outcome(recipient, False, code, f"{code} {message}".strip(), permanent=500 <= code < 600)


def _connect(server: SmtpServer, timeout: float, local_hostname: str) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if server.implicit_tls:
        connection: smtplib.SMTP = smtplib.SMTP_SSL(server.host, server.port, local_hostname=local_hostname,
                                                    timeout=timeout, context=context)
    else:
        connection = smtplib.SMTP(server.host, server.port, local_hostname=local_hostname, timeout=timeout)
    try:
        connection.ehlo()
        if server.starttls:
            connection.starttls(context=context)  # raises SMTPNotSupportedError if not offered
            connection.ehlo()
        if server.username:
            connection.login(server.username, server.password or "")
    except BaseException:
        connection.close()
        raise
    return connection


def send_all(server: SmtpServer, envelope_from: str, messages: Iterable[tuple[str, EmailMessage]],
             timeout: float, local_hostname: str) -> list[Outcome]:
    """Send each ``(recipient, message)`` over one connection; one :class:`Outcome` each.

    Never raises for delivery problems. A refusal of one recipient does not stop the
    others (smtplib resets the transaction after it); a lost connection fails the rest.
    """
    pending = list(messages)
    try:
        connection = _connect(server, timeout, local_hostname)
    except smtplib.SMTPNotSupportedError as exc:  # STARTTLS or AUTH not offered: configuration
        return [Outcome(rcpt, False, None, f"SMTP server: {exc}", permanent=True) for rcpt, _ in pending]
    except smtplib.SMTPResponseException as exc:  # greeting, STARTTLS or AUTH refused with a code
        return [_reply_outcome(rcpt, exc.smtp_code, exc.smtp_error) for rcpt, _ in pending]
    except (OSError, smtplib.SMTPException) as exc:  # refused, unreachable, timeout, TLS failure
        error = f"cannot reach SMTP server {server.host}:{server.port}: {type(exc).__name__}: {exc}"
        return [Outcome(rcpt, False, None, error) for rcpt, _ in pending]
    outcomes: list[Outcome] = []
    try:
        for index, (recipient, message) in enumerate(pending):
            try:
                connection.send_message(message, from_addr=envelope_from, to_addrs=[recipient])
                outcomes.append(Outcome(recipient, True, 250))
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = exc.recipients.get(recipient, (550, b"recipient refused"))
                outcomes.append(_reply_outcome(recipient, code, text))
            except smtplib.SMTPResponseException as exc:  # sender or data refused
                outcomes.append(_reply_outcome(recipient, exc.smtp_code, exc.smtp_error))
            except (OSError, smtplib.SMTPException) as exc:  # connection lost: the rest wait too
                error = f"SMTP connection lost: {type(exc).__name__}: {exc}"
                outcomes.extend(Outcome(rcpt, False, None, error) for rcpt, _ in pending[index:])
                break
    finally:
        try:
            connection.quit()
        except (OSError, smtplib.SMTPException):
            connection.close()
    return outcomes


def ehlo_name(public_url: str) -> str:
    """How we greet the SMTP server: our public host name (``socket.getfqdn()`` can hang on DNS)."""
    host = urlsplit(public_url).hostname or "localhost"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    return f"[IPv6:{address}]" if address.version == 6 else f"[{address}]"
