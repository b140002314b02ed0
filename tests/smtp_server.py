"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, and what it received."""

from __future__ import annotations

import email
import threading
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


@dataclass
class Mailbox:
    """The aiosmtpd handler: records every accepted message; refuses listed recipients."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address -> SMTP reply, e.g. "550 5.1.1 no such user"
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    def parsed(self) -> list[EmailMessage]:
        with self.lock:
            return [email.message_from_bytes(content, policy=policy.default) for _, _, content in self.messages]

    def to(self, recipient: str) -> list[EmailMessage]:
        with self.lock:
            contents = [content for _, rcpts, content in self.messages if recipient in rcpts]
        return [email.message_from_bytes(content, policy=policy.default) for content in contents]


class EphemeralController(Controller):
    """aiosmtpd's Controller on a port the OS picks (port=0), read back before its self-test."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class SmtpServer:
    mailbox: Mailbox
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


def start_smtp(mailbox: Mailbox, **kwargs) -> EphemeralController:
    controller = EphemeralController(mailbox, hostname="127.0.0.1", port=0, server_hostname="localhost", **kwargs)
    controller.start()
    return controller
