"""Logging set-up for the command line: readable text or JSON lines, with secrets redacted.

Every record that reaches geomon's handler passes through :class:`SecretFilter` first, whichever
logger it came from (geomon's own, or a library's such as ``distributed`` or ``urllib3``), so a
credential in a message, an argument, an ``extra`` field or a traceback never reaches the output.
What is redacted (see :func:`redact_secrets`):

- the values of environment variables whose names contain ``SECRET``, ``TOKEN``, ``PASSWORD`` or
  ``KEY`` (read when each record is written, so secrets set after start-up are covered too);
- ``client_secret=…``, ``access_token=…``, ``password=…`` and similar ``name=value`` or
  ``"name": "value"`` pairs;
- the user info of URLs and scheduler addresses (``tls://user:pass@host`` → ``tls://***@host``);
- values the imagery sources registered with ``geomon.sources._redact.remember_secret`` (e.g. a
  secret read from a sentinelhub profile), when that module is loaded.

Examples
--------
>>> import logging
>>> configure_logging(level=logging.INFO, fmt="json", quiet=False)  # doctest: +SKIP
>>> logging.getLogger("geomon").info("run %s", "x", extra={"aoi": "seguela"})  # doctest: +SKIP
{"ts": "2026-11-28T12:00:00.000Z", "level": "INFO", "logger": "geomon", "message": "run x", ...}
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import IO, Any, Literal

__all__ = [
    "JsonFormatter",
    "SecretFilter",
    "configure_logging",
    "redact_secrets",
    "redact_userinfo",
    "secret_env_values",
]

#: Parts of environment variable names whose values are treated as secrets.
SECRET_NAME_PARTS: tuple[str, ...] = ("SECRET", "TOKEN", "PASSWORD", "KEY")
#: Values too common to be secrets: masking them would garble every message.
_NOT_SECRET = frozenset({"true", "false", "yes", "no", "none", "null", "on", "off"})
_MIN_SECRET_LEN = 4
MASK = "***"

#: ``scheme://user[:password]@`` in URLs and addresses of any scheme (https, s3, tcp, tls, ...).
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@'\"<>]+@")
#: ``name=value`` pairs (forms, query strings, command lines).
_PAIR = re.compile(
    r"(?i)\b((?:client_secret|access_token|refresh_token|id_token|api_key|apikey|password|"
    r"passwd|secret|token)=)[^&\s'\"]+")
#: ``"name": "value"`` in JSON or repr'd dicts.
_MAPPING = re.compile(
    r"(?i)(['\"](?:client_secret|access_token|refresh_token|id_token|api_key|password|secret|"
    r"token)['\"]\s*:\s*)(['\"])[^'\"]*\2")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")

#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
NOISY_LOGGERS: tuple[str, ...] = ("rasterio", "distributed", "urllib3", "matplotlib", "fsspec",
                                  "botocore", "tornado", "asyncio")


def secret_env_values(environ: dict[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names mark them as secrets, longest first.

    Values shorter than 4 characters and plain words such as ``true`` are left out: masking them
    would garble every message while protecting nothing.
    """
    env = os.environ if environ is None else environ
    found = {
        v for k, v in env.items()
        if any(part in k.upper() for part in SECRET_NAME_PARTS)
        and len(v) >= _MIN_SECRET_LEN and v.strip().lower() not in _NOT_SECRET
    }
    return sorted(found, key=len, reverse=True)


def redact_userinfo(text: str) -> str:
    """``text`` with the user info of every URL or address masked.

    >>> redact_userinfo("tls://alice:s3cret@scheduler.example:8786")
    'tls://***@scheduler.example:8786'
    """
    return _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)


def redact_secrets(text: str) -> str:
    """``text`` with every secret :mod:`geomon.logs` knows of masked as ``***``.

    >>> redact_secrets("POST client_secret=abc123&grant_type=client_credentials")
    'POST client_secret=***&grant_type=client_credentials'
    """
    out = redact_userinfo(str(text))
    out = _PAIR.sub(rf"\1{MASK}", out)
    out = _MAPPING.sub(rf"\1\2{MASK}\2", out)
    out = _BEARER.sub(rf"\1{MASK}", out)
    for value in secret_env_values():
        out = out.replace(value, MASK)
    sources = sys.modules.get("geomon.sources._redact")
    if sources is not None:  # secrets the imagery sources learnt (profiles), signed URLs
        out = sources.redact(out)
    return out


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact_secrets(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_clean(v) for v in value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact_secrets(str(value))


class SecretFilter(logging.Filter):
    """Redacts a record's message, ``extra`` fields and traceback text in place.

    Attach it to a handler (as :func:`configure_logging` does), not a logger: handler filters see
    the records of every logger that propagates to the handler.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let logging report it, but mask what we can
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = redact_secrets(message), None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD:
                setattr(record, key, _clean(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_secrets(record.exc_text)
            record.exc_info = None  # the formatter must use the redacted text
        if record.stack_info:
            record.stack_info = redact_secrets(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, then ``extra`` fields.

    ``ts`` is UTC ISO 8601 with milliseconds; a traceback goes in ``exc_info`` as text.
    """

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in doc:
                doc[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exc_info"] = record.exc_text
        if record.stack_info:
            doc["stack_info"] = record.stack_info
        return json.dumps(doc, default=str, ensure_ascii=False)


class _RedactingTextFormatter(logging.Formatter):
    """The plain-text format, with one last redaction pass over the finished line."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_secrets(super().format(record))


_HANDLER_NAME = "geomon"


def configure_logging(*, level: int, fmt: Literal["text", "json"] = "text", quiet: bool = False,
                      stream: IO[str] | None = None) -> logging.Handler:
    """Send log records to ``stream`` (default stderr) as text or JSON lines, secrets redacted.

    Replaces the handler an earlier call installed, so calling it again (e.g. in tests) does not
    duplicate lines; handlers others installed (pytest's log capture) stay.

    Parameters
    ----------
    level
        Threshold for geomon's loggers (``logging.INFO``, ``logging.DEBUG``, ...).
    fmt
        ``text``: ``time LEVEL logger: message``; ``json``: one JSON object per line, for log
        collectors (journald, Loki, CloudWatch ...).
    quiet
        Only errors, whatever ``level`` says (for cron: a silent run is a good run).
    stream
        Where to write; default ``sys.stderr`` (looked up at call time).

    Returns
    -------
    logging.Handler
        The handler installed on the root logger.
    """
    if fmt not in ("text", "json"):
        raise ValueError(f"log format must be 'text' or 'json', not {fmt!r}")
    level = logging.ERROR if quiet else level
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(SecretFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else _RedactingTextFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == _HANDLER_NAME:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("geomon").setLevel(level)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    return handler
