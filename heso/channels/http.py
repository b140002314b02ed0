"""HESO's public HTTP helpers for channel plugins: an SSRF-guarded POST and Standard Webhooks
signing. Part of the plugin API (docs/plugins.md): names in ``__all__`` are stable.

``post`` resolves the host, refuses private, loopback, link-local and metadata addresses
(unless the operator allows them with ``HESO_WEBHOOK_ALLOW_PRIVATE``), connects to the
address it vetted, follows no redirect, stops at the deadline and reads at most 64 KiB.
``delivery_result`` turns its outcome into the :class:`~heso.channels.api.DeliveryResult` a
``send()`` returns (410 → gone, 4xx → permanent, ``Retry-After`` honoured).
"""

from heso.channels.safe_http import HttpOutcome, check_url, delivery_result, post, retry_after_seconds
from heso.channels.signing import generate_secret, sign, validate_secret, webhook_headers

__all__ = ["HttpOutcome", "check_url", "delivery_result", "post", "retry_after_seconds",
           "generate_secret", "sign", "validate_secret", "webhook_headers"]
