"""HESO's public SMTP helpers for channel plugins: the operator's mail server (``HESO_SMTP_URL``)
and a sender that reports per recipient. Part of the plugin API (docs/plugins.md): names in
``__all__`` are stable. Sign-in mail uses the same code, so both see one SMTP configuration.
"""

from heso.smtp import Outcome, SmtpServer, ehlo_name, send_all

__all__ = ["Outcome", "SmtpServer", "ehlo_name", "send_all"]
