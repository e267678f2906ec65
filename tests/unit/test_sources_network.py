"""Retry policy (backoff with jitter, bounded) and redaction of credentials."""

from __future__ import annotations

import logging

import pytest
import requests

from geomon.sources._redact import redact, redact_url, remember_secret
from geomon.sources._retry import RetryPolicy
from tests.integration.faults import Faults, faulty_http_server


def test_delays_double_with_bounded_jitter():
    p = RetryPolicy(retries=4, backoff_s=1.0)
    for attempt, base in [(1, 1.0), (2, 2.0), (3, 4.0)]:
        d = [p.delay(attempt) for _ in range(200)]
        assert base <= min(d) and max(d) <= 1.5 * base and len(set(d)) > 100


def test_session_retries_429_and_503_then_succeeds(tmp_path, caplog):
    (tmp_path / "x.json").write_text("{}")
    faults = Faults(fail_first={"x.json": (2, 429), "y.json": (9, 503)})
    (tmp_path / "y.json").write_text("{}")
    caplog.set_level(logging.WARNING)
    s = RetryPolicy(retries=3, backoff_s=0.01, timeout_s=5).session()
    with faulty_http_server(tmp_path, faults) as base:
        assert s.get(base + "x.json").status_code == 200
        assert s.get(base + "y.json").status_code == 503  # bounded: gives the error back
    assert faults.hits["/x.json"] == 3 and faults.hits["/y.json"] == 4
    assert "retry 1/3 of GET" in caplog.text and "HTTP 429" in caplog.text


def test_timeout_is_applied(tmp_path):
    (tmp_path / "slow").write_text("{}")
    s = RetryPolicy(retries=0, timeout_s=0.2).session()
    with faulty_http_server(tmp_path, Faults(delay_s={"slow": 1.0})) as base, \
            pytest.raises(requests.RequestException):
        s.get(base + "slow")


def test_gdal_options_follow_the_policy():
    o = RetryPolicy(retries=5, backoff_s=0.5, timeout_s=20).gdal_options()
    assert o["GDAL_HTTP_MAX_RETRY"] == "5" and o["GDAL_HTTP_RETRY_DELAY"] == "0.5"
    assert "429" in o["GDAL_HTTP_RETRY_CODES"] and "503" in o["GDAL_HTTP_RETRY_CODES"]
    assert o["GDAL_HTTP_TIMEOUT"] == "20"


def test_redaction(monkeypatch):
    monkeypatch.setenv("SH_CLIENT_SECRET", "topsecret-1234")
    remember_secret("profile-secret-99")
    text = ("GET https://x.blob.core.windows.net/a/b.tif?sv=2021&sig=abc%3D failed; "
            "Authorization: Bearer eyJhbGciOi.abc.def; client_secret=topsecret-1234&x=1; "
            "{'client_secret': 'profile-secret-99'}; https://user:pw@host/p")
    out = redact(text)
    for leak in ("sig=abc", "eyJhbGciOi", "topsecret-1234", "profile-secret-99", "user:pw"):
        assert leak not in out
    assert "https://x.blob.core.windows.net/a/b.tif?…" in out
    assert redact_url("s3://bucket/key.tif") == "s3://bucket/key.tif"


def test_third_party_debug_logs_are_redacted(monkeypatch, caplog):
    monkeypatch.setenv("SH_CLIENT_SECRET", "topsecret-1234")
    caplog.set_level(logging.DEBUG)
    import geomon.sources  # noqa: F401 - installs the filters

    logging.getLogger("requests_oauthlib.oauth2_session").debug(
        "Request body: %s", {"client_secret": "topsecret-1234"})
    assert "topsecret-1234" not in caplog.text and "client_secret" in caplog.text
