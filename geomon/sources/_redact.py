"""Keep credentials out of logs, manifests and error messages.

Signed URLs (Planetary Computer SAS tokens, presigned S3 links) carry secrets in their query
string, and a Sentinel Hub client secret or bearer token can end up in an exception's text.
Everything a source logs or raises goes through :func:`redact_url` or :func:`redact`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

__all__ = ["SECRET_ENV", "RedactingFilter", "redact", "redact_url", "remember_secret"]

#: Environment variables whose values are secrets wherever they appear.
SECRET_ENV: tuple[str, ...] = ("SH_CLIENT_SECRET", "SH_CLIENT_ID", "PC_SDK_SUBSCRIPTION_KEY",
                               "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

_URL = re.compile(r"\b((?:https?|s3|gs|az)://[^\s'\"<>]+)")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_FORM = re.compile(r"(?i)((?:client_secret|access_token|refresh_token|id_token)=)[^&\s'\"]+")
_MAPPING = re.compile(
    r"(?i)(['\"](?:client_secret|access_token|refresh_token|id_token|password)['\"]\s*:\s*)"
    r"(['\"])[^'\"]*\2")
_EXTRA: set[str] = set()
_EXTRA_LOCK = threading.Lock()

#: Third-party loggers that may print request bodies, tokens or signed URLs (at DEBUG).
NOISY_LOGGERS: tuple[str, ...] = (
    "requests_oauthlib.oauth2_session", "oauthlib.oauth2.rfc6749.clients.base",
    "oauthlib.oauth2.rfc6749.parameters", "oauthlib.oauth2.rfc6749",
    "sentinelhub.download.session", "sentinelhub.download.client",
    "sentinelhub.download.sentinelhub_client", "sentinelhub.download.handlers",
    "urllib3.connectionpool", "urllib3.util.retry", "rasterio._env", "rasterio._base",
    "rasterio._io", "rasterio.env", "pystac_client.stac_api_io", "odc.loader._rio",
)


def remember_secret(value: str | None) -> None:
    """Mask ``value`` wherever it appears from now on (e.g. a secret read from a profile)."""
    if value and len(value) >= 4:
        with _EXTRA_LOCK:
            _EXTRA.add(value)


def redact_url(url: str) -> str:
    """``url`` without its query string and user info (which may hold tokens)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    query = "…" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with URLs' query strings, bearer tokens and known secret values masked.

    Parameters
    ----------
    text
        A message about to be logged or raised.
    secrets
        Further values to mask, besides those of :data:`SECRET_ENV` in the environment.
    """
    out = _URL.sub(lambda m: redact_url(m.group(1)), str(text))
    out = _BEARER.sub(r"\1***", out)
    out = _FORM.sub(r"\1***", out)
    out = _MAPPING.sub(r"\1\2***\2", out)
    values = [*secrets, *(os.environ.get(k) for k in SECRET_ENV), *_EXTRA]
    for value in sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True):
        out = out.replace(value, "***")
    return out


class RedactingFilter(logging.Filter):
    """Rewrites a log record's message through :func:`redact` before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_FILTER = RedactingFilter()
for _name in NOISY_LOGGERS:
    logging.getLogger(_name).addFilter(_FILTER)
