"""The HTTP policy source: a team's bundle is fetched from a URL.

Conditional requests keep polls cheap: the ``ETag`` of the last accepted answer goes back
as ``If-None-Match``, and ``304 Not Modified`` means "unchanged" (a server without ETags
is compared by content hash instead). Redirects are not followed, the whole fetch is cut
at ``timeout_seconds`` (a server that trickles bytes included), and an answer larger than
``max_bytes`` is refused. ``{team_id}`` in the URL is replaced by the team's id.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any
from urllib.parse import urlsplit

import marshmallow as ma
import requests

from heso.policy.api import MAX_BUNDLE_BYTES, Fetched, PolicySource, SourceError, TeamRef

__all__ = ["HttpSource"]

CHUNK = 16 * 1024
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


class HttpSourceConfig(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    url = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2048),
                           metadata={"description": "http(s) URL; {team_id} is replaced by the team's id"})
    timeout_seconds = ma.fields.Float(load_default=10.0, validate=ma.validate.Range(min=0.1, max=60))
    max_bytes = ma.fields.Integer(load_default=MAX_BUNDLE_BYTES, strict=True,
                                  validate=ma.validate.Range(min=1, max=MAX_BUNDLE_BYTES))
    headers = ma.fields.Dict(keys=ma.fields.String(validate=ma.validate.Length(min=1, max=200)),
                             values=ma.fields.String(validate=ma.validate.Length(max=4096)), load_default=dict,
                             metadata={"description": "e.g. Authorization; secret, never shown"})

    @ma.validates("url")
    def _http_url(self, value: str, **kwargs: Any) -> None:
        parts = urlsplit(value.replace("{team_id}", "team"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ma.ValidationError(f"Must be an http:// or https:// URL, got {value!r}.")


class HttpSource(PolicySource):
    name = "http"
    config_schema = HttpSourceConfig
    secret_fields = frozenset({"headers"})

    def load(self, team: TeamRef, token: str | None) -> Fetched | None:
        url = self.config["url"].replace("{team_id}", team.id)
        timeout, cap = self.config["timeout_seconds"], self.config["max_bytes"]
        headers = {"Accept": "application/json, application/yaml;q=0.9", **self.config["headers"]}
        if token and token.startswith("etag:"):
            headers["If-None-Match"] = token[len("etag:"):]
        deadline = time.monotonic() + timeout
        try:
            with requests.get(url, headers=headers, timeout=(timeout, timeout), allow_redirects=False,
                              stream=True) as response:
                if response.status_code == 304:
                    return None
                if response.status_code != 200:
                    raise SourceError(f"{url} answered HTTP {response.status_code}; expected 200 or 304.")
                declared = response.headers.get("Content-Length")
                if declared and declared.isascii() and declared.isdigit() and int(declared) > cap:
                    raise SourceError(f"{url} sent {declared} bytes; the limit is {cap}.")
                body = bytearray()
                for chunk in response.iter_content(CHUNK):
                    body.extend(chunk)
                    if len(body) > cap:
                        raise SourceError(f"{url} sent more than {cap} bytes.")
                    if time.monotonic() > deadline:
                        raise SourceError(f"{url} took longer than {timeout} s.")
                etag = response.headers.get("ETag")
                mimetype = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        except requests.Timeout:
            raise SourceError(f"{url} did not answer within {timeout} s.") from None
        except requests.RequestException as exc:
            raise SourceError(f"Could not fetch {url}: {type(exc).__name__}: {exc}") from None
        new_token = f"etag:{etag}" if etag else f"sha256:{hashlib.sha256(body).hexdigest()}"
        if new_token == token:
            return None
        fmt = "yaml" if mimetype in YAML_TYPES else "json" if mimetype == "application/json" else None
        return Fetched(text=bytes(body), token=new_token, origin=url, fmt=fmt)
