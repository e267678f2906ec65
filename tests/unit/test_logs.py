"""Logging set-up: text and JSON lines, and no secret ever reaching the output."""

from __future__ import annotations

import io
import json
import logging

import pytest

from geomon.logs import configure_logging, redact_secrets, redact_userinfo, secret_env_values

SECRET = "Zq9-very-secret-value-81"


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("geomon").level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logging.getLogger("geomon").setLevel(saved[2])


def _setup(fmt: str, *, quiet: bool = False, level: int = logging.INFO) -> io.StringIO:
    out = io.StringIO()
    configure_logging(level=level, fmt=fmt, quiet=quiet, stream=out)
    return out


def test_json_lines_have_the_fields(restore_logging):
    out = _setup("json")
    logging.getLogger("geomon.pipeline").info("run %s over %s", "r1", "seguela",
                                              extra={"aoi": "seguela", "periods": 3})
    logging.getLogger("geomon").debug("not shown at INFO")
    (line,) = out.getvalue().splitlines()
    doc = json.loads(line)
    assert doc["level"] == "INFO" and doc["logger"] == "geomon.pipeline"
    assert doc["message"] == "run r1 over seguela"
    assert doc["aoi"] == "seguela" and doc["periods"] == 3
    assert doc["ts"].endswith("Z") and doc["ts"][:2] == "20"


def test_text_format_and_quiet(restore_logging):
    out = _setup("text")
    logging.getLogger("geomon").info("hello")
    assert out.getvalue().rstrip().endswith("INFO geomon: hello")
    out = _setup("text", quiet=True)
    logging.getLogger("geomon").warning("a warning cron should not mail")
    logging.getLogger("geomon").error("an error it should")
    assert out.getvalue().splitlines() == [out.getvalue().splitlines()[0]]
    assert "an error it should" in out.getvalue() and "warning" not in out.getvalue()


def test_configuring_twice_does_not_duplicate_lines(restore_logging):
    _setup("text")
    out = _setup("json")
    logging.getLogger("geomon").info("once")
    assert len(out.getvalue().splitlines()) == 1


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_never_reach_the_output(restore_logging, monkeypatch, fmt):
    monkeypatch.setenv("SH_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("MY_API_TOKEN", "tok-5566778899")
    monkeypatch.setenv("DB_PASSWORD", "pw-hunter2-hunter2")
    out = _setup(fmt, level=logging.DEBUG)
    log = logging.getLogger("geomon.sources")
    log.info("secret in the message: %s", SECRET)
    log.info("in a format arg: %s and %r", "tok-5566778899", {"password": "pw-hunter2-hunter2"})
    log.info("extra field", extra={"credentials": f"id:{SECRET}", "nested": {"k": [SECRET]}})
    log.warning("POST https://identity.example/token body=client_secret=abc123def&grant=cc")
    log.warning("scheduler at tls://alice:opensesame@10.1.2.3:8786 and https://u:pw9@h/x")
    logging.getLogger("urllib3.connectionpool").warning("library logger: %s", SECRET)
    try:
        raise RuntimeError(f"token refused: {SECRET}")
    except RuntimeError:
        log.exception("failed")
    text = out.getvalue()
    for leaked in (SECRET, "tok-5566778899", "pw-hunter2-hunter2", "abc123def", "opensesame",
                   "pw9", "alice"):
        assert leaked not in text, leaked
    assert "client_secret=***" in text and "tls://***@10.1.2.3:8786" in text
    assert "RuntimeError: token refused: ***" in text.replace("\\n", "\n")
    if fmt == "json":
        docs = [json.loads(line) for line in text.splitlines()]
        assert len(docs) == 7
        assert docs[2]["credentials"] == "id:***" and docs[2]["nested"] == {"k": ["***"]}
        assert "Traceback" in docs[-1]["exc_info"]


def test_secret_set_after_configuration_is_still_redacted(restore_logging, monkeypatch):
    out = _setup("text")
    monkeypatch.setenv("LATE_SECRET", "late-arrival-9988")
    logging.getLogger("geomon").info("value late-arrival-9988")
    assert "late-arrival-9988" not in out.getvalue()


def test_harmless_values_are_not_masked(monkeypatch):
    monkeypatch.setenv("USE_KEYRING", "true")
    monkeypatch.setenv("SOME_KEY", "ab")
    assert "true" not in secret_env_values() and "ab" not in secret_env_values()
    assert redact_secrets("keep this true statement about ab") == \
        "keep this true statement about ab"
    assert redact_userinfo("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    assert redact_userinfo("see user@example.org") == "see user@example.org"


def test_bad_format_is_refused():
    with pytest.raises(ValueError, match="json"):
        configure_logging(level=logging.INFO, fmt="xml", quiet=False)  # type: ignore[arg-type]
