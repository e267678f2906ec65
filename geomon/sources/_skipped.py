"""Assets that could not be read: recorded with their item, date and reason, never dropped quietly.

A source records what it finds unreadable before loading (pre-flight) in a :class:`SkipLog`, which
becomes :attr:`Cube.skipped`. Reads that fail later, while dask computes, are caught from
odc-loader's "Ignoring read failure" log record and appended to the same list (in this process:
on the threaded scheduler or a local cluster with threads; worker processes of a remote cluster
log them in their own logs).
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from geomon.sources._redact import redact, redact_url

log = logging.getLogger("geomon.sources")

__all__ = ["SkipLog", "watch_read_failures"]

_ODC_LOGGER = "odc.loader._rio"


class SkipLog(list):
    """A list of ``{"id", "asset", "datetime", "reason"}`` dicts, one per unreadable asset."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def add(self, *, item_id: str, asset: str, datetime: str, reason: str) -> None:
        """Record one unreadable asset (once per item and asset), and log it."""
        entry = {"id": item_id, "asset": asset, "datetime": datetime,
                 "reason": redact(reason)[:500]}
        with self._lock:
            if any(e["id"] == item_id and e["asset"] == asset for e in self):
                return
            self.append(entry)
        log.warning("skipped asset %s of item %s (%s): %s", asset, item_id, datetime,
                    entry["reason"])


class _ReadFailureWatch(logging.Filter):
    """Routes odc-loader's read-failure records to the :class:`SkipLog` that owns the URL.

    It also redacts URLs (signed query strings) in every record of the logger it filters.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._owners: dict[str, list[tuple[weakref.ref[SkipLog], dict[str, str]]]] = {}

    def register(self, skipped: SkipLog, url: str, *, item_id: str, asset: str,
                 datetime: str) -> None:
        ref = weakref.ref(skipped)
        with self._lock:
            owners = [o for o in self._owners.get(redact_url(url), []) if o[0]() is not None]
            owners.append((ref, {"item_id": item_id, "asset": asset, "datetime": datetime}))
            self._owners[redact_url(url)] = owners
            if len(self._owners) > 100_000:  # drop entries of cubes that are gone
                self._owners = {k: v for k, v in self._owners.items()
                                if any(r() is not None for r, _ in v)}

    def filter(self, record: logging.LogRecord) -> bool:
        args: Any = record.args
        if (isinstance(args, tuple) and len(args) == 3
                and str(record.msg).startswith("Ignoring read failure")):
            uri, _band, reason = args
            with self._lock:
                owners = list(self._owners.get(redact_url(str(uri)), []))
            for ref, where in owners:
                target = ref()
                if target is not None:
                    target.add(reason=f"read failed while computing: {reason}", **where)
        record.msg = redact(str(record.msg))
        if isinstance(args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        return True


_WATCH = _ReadFailureWatch()
logging.getLogger(_ODC_LOGGER).addFilter(_WATCH)


def watch_read_failures(skipped: SkipLog, url: str, *, item_id: str, asset: str,
                        datetime: str) -> None:
    """Record in ``skipped`` any later read failure of ``url`` reported by odc-loader."""
    _WATCH.register(skipped, url, item_id=item_id, asset=asset, datetime=datetime)
