"""One retry policy for every network call a source makes: STAC API, COG reads, Sentinel Hub.

Transient failures (HTTP 429, 5xx, timeouts, dropped connections) are retried a bounded number
of times with exponential backoff and jitter; each retry is logged at WARNING on
``geomon.sources`` so a run's log shows it. Everything else fails at once.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from geomon.sources._redact import redact_url

log = logging.getLogger("geomon.sources")

__all__ = ["RETRY_STATUS", "LoggingRetry", "RetryPolicy"]

#: HTTP statuses worth trying again.
RETRY_STATUS: tuple[int, ...] = (408, 429, 500, 502, 503, 504)

@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry.

    Parameters
    ----------
    retries
        Retries after the first attempt (0: never retry).
    backoff_s
        Delay before the first retry; doubled for each next one, with up to 50 % random jitter.
    timeout_s
        Timeout of one request (connect and read), seconds.
    """

    retries: int = 4
    backoff_s: float = 1.0
    timeout_s: float = 60.0

    @classmethod
    def from_config(cls, config: Any) -> RetryPolicy:
        """The policy a pipeline's ``source`` block asks for."""
        return cls(retries=config.retries, backoff_s=config.backoff_s,
                   timeout_s=config.timeout_s)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based), jitter included."""
        base = self.backoff_s * 2 ** (attempt - 1)
        return base * (1.0 + 0.5 * random.random())

    def urllib3_retry(self) -> Retry:
        """A urllib3 :class:`~urllib3.util.retry.Retry` implementing this policy."""
        return LoggingRetry(
            total=self.retries, connect=self.retries, read=self.retries, status=self.retries,
            backoff_factor=self.backoff_s / 2, backoff_jitter=self.backoff_s / 2,
            status_forcelist=RETRY_STATUS, allowed_methods=None,
            respect_retry_after_header=True, raise_on_status=False,
        )

    def session(self) -> requests.Session:
        """A :class:`requests.Session` that retries per this policy and times out requests."""
        s = requests.Session()
        adapter = HTTPAdapter(max_retries=self.urllib3_retry())
        s.mount("http://", adapter)
        s.mount("https://", adapter)
        s.request = _with_timeout(s.request, self.timeout_s)  # type: ignore[method-assign]
        return s

    def gdal_options(self) -> dict[str, str]:
        """GDAL configuration options for /vsicurl/ reads that follow this policy.

        GDAL doubles ``GDAL_HTTP_RETRY_DELAY`` after each retry and adds jitter itself.
        """
        return {
            "GDAL_HTTP_MAX_RETRY": str(self.retries),
            "GDAL_HTTP_RETRY_DELAY": f"{self.backoff_s:g}",
            "GDAL_HTTP_RETRY_CODES": ",".join(map(str, RETRY_STATUS)),
            "GDAL_HTTP_TIMEOUT": str(max(1, round(self.timeout_s))),
            "GDAL_HTTP_CONNECTTIMEOUT": str(max(1, round(min(self.timeout_s, 30)))),
            "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
            "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF,.jp2,.JP2",
        }


class LoggingRetry(Retry):
    """urllib3 Retry that logs each retry (URL without its query string) at WARNING."""

    def increment(self, method=None, url=None, response=None, error=None, _pool=None,
                  _stacktrace=None):  # type: ignore[override]
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        done = len(new.history)
        cause = f"HTTP {response.status}" if response is not None and response.status else (
            type(error).__name__ if error is not None else "error")
        host = f"{_pool.scheme}://{_pool.host}:{_pool.port}" if _pool is not None else ""
        left = new.total if isinstance(new.total, int) else 0
        log.warning("retry %d/%d of %s %s after %s", done, done + left, method,
                    redact_url(host + (url or "")), cause)
        return new


def _with_timeout(request: Callable[..., requests.Response], timeout: float
                  ) -> Callable[..., requests.Response]:
    def wrapped(method: str, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", timeout)
        return request(method, url, **kwargs)

    return wrapped
