"""Fault injection for the loopback servers: errors, truncation and delays, as real hosts misbehave.

- :func:`faulty_http_server`: the range-capable static server of :mod:`tests.integration.servers`,
  with :class:`Faults` applied (answer 429/503 to the first N requests of matching paths, serve
  a file cut short, delay answers).
- :func:`fault_proxy`: a reverse proxy in front of another server (e.g. ``rustac serve``) that
  applies the same :class:`Faults` before forwarding.

Both count what they saw (:attr:`Faults.hits`, :attr:`Faults.injected`), so tests can prove a
retry happened rather than infer it.
"""

from __future__ import annotations

import http.server
import io
import re
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.servers import RangeRequestHandler, free_port, serve_in_thread

__all__ = ["Faults", "fault_proxy", "faulty_http_server"]


@dataclass
class Faults:
    """What to break. Patterns are regular expressions searched in the request path.

    Parameters
    ----------
    fail_first
        pattern → (n, status): the first ``n`` requests matching ``pattern`` get ``status``
        (429 answers carry ``Retry-After: 0``).
    truncate
        pattern → fraction: matching files are served cut to this fraction of their size.
    delay_s
        pattern → seconds to wait before answering.
    """

    fail_first: dict[str, tuple[int, int]] = field(default_factory=dict)
    truncate: dict[str, float] = field(default_factory=dict)
    delay_s: dict[str, float] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    injected: list[tuple[str, int]] = field(default_factory=list)
    _seen: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def before(self, path: str) -> int | None:
        """Count ``path``; sleep if asked; return a status to answer instead, if any."""
        with self._lock:
            self.hits[path] += 1
            status = None
            for pattern, (n, code) in self.fail_first.items():
                if re.search(pattern, path):
                    self._seen[pattern] += 1
                    if self._seen[pattern] <= n:
                        status = code
                        self.injected.append((path, code))
                        break
        for pattern, seconds in self.delay_s.items():
            if re.search(pattern, path):
                time.sleep(seconds)
        return status

    def cut(self, path: str) -> float | None:
        """Fraction of the file to serve, if ``path`` is to be truncated."""
        return next((f for p, f in self.truncate.items() if re.search(p, path)), None)


def _send_fault(handler: http.server.BaseHTTPRequestHandler, status: int) -> None:
    body = b'{"code": %d, "description": "injected fault"}' % status
    handler.send_response(status)
    if status == 429:
        handler.send_header("Retry-After", "0")
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


@contextmanager
def faulty_http_server(directory: str | Path, faults: Faults, port: int | None = None
                       ) -> Iterator[str]:
    """Serve ``directory`` with range support on 127.0.0.1, breaking it as ``faults`` says."""
    port = port or free_port()
    root = str(directory)

    class Handler(RangeRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=root, **kwargs)

        def send_head(self):  # type: ignore[override]
            status = faults.before(self.path)
            if status is not None:
                _send_fault(self, status)
                return None
            frac = faults.cut(self.path)
            if frac is None:
                return super().send_head()
            return self._send_truncated(frac)

        def _send_truncated(self, frac: float):
            path = Path(self.translate_path(self.path))
            data = path.read_bytes()
            data = data[: int(len(data) * frac)]
            size = len(data)
            rng = self.headers.get("Range")
            first, last = 0, size - 1
            if rng and rng.startswith("bytes="):
                a, _, b = rng[6:].split(",")[0].partition("-")
                first = int(a) if a else max(0, size - int(b))
                last = min(int(b), size - 1) if (a and b) else size - 1
                if first >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
            else:
                self.send_response(200)
            self.send_header("Content-Type", "image/tiff")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(last - first + 1))
            self.end_headers()
            return io.BytesIO(data[first:last + 1])

    with serve_in_thread(Handler, port) as url:
        yield url


@contextmanager
def fault_proxy(upstream: str, faults: Faults, port: int | None = None) -> Iterator[str]:
    """A reverse proxy on 127.0.0.1 to ``upstream`` that applies ``faults`` first.

    Links in the upstream's JSON answers that point at ``upstream`` are rewritten to the proxy,
    so a client that follows them (paging, ``self``) stays behind the proxy.
    """
    port = port or free_port()
    upstream = upstream.rstrip("/")
    me = f"http://127.0.0.1:{port}"

    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _forward(self) -> None:
            status = faults.before(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if status is not None:
                _send_fault(self, status)
                return
            req = urllib.request.Request(upstream + self.path, data=body, method=self.command)
            for key in ("Content-Type", "Accept"):
                if self.headers.get(key):
                    req.add_header(key, self.headers[key])
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    code, headers, data = resp.status, resp.headers, resp.read()
            except urllib.error.HTTPError as err:
                code, headers, data = err.code, err.headers, err.read()
            data = data.replace(upstream.encode(), me.encode())
            self.send_response(code)
            self.send_header("Content-Type", headers.get("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _forward

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Proxy)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield me
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
