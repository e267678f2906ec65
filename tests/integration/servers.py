"""Loopback servers for integration tests: a range-capable static HTTP server and ``rustac serve``.

Both bind to 127.0.0.1 only, so they work under a socket guard that blocks non-loopback traffic.
(Candidates for ``geomon.testing`` once the lead moves them there.)
"""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from geomon.testing import free_port

__all__ = ["free_port", "range_http_server", "rustac_binary", "rustac_server", "wait_for_http"]


class RangeRequestHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with single-range ``Range: bytes=a-b`` support (what GDAL's /vsicurl/ needs)."""

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output quiet

    def send_head(self):  # type: ignore[override]
        rng = self.headers.get("Range")
        if not rng or not rng.startswith("bytes="):
            return super().send_head()
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404, "File not found")
            return None
        size = path.stat().st_size
        spec = rng[len("bytes="):].split(",")[0].strip()
        first_s, _, last_s = spec.partition("-")
        try:
            if first_s == "":  # suffix range: the last N bytes
                first, last = max(0, size - int(last_s)), size - 1
            else:
                first = int(first_s)
                last = min(int(last_s), size - 1) if last_s else size - 1
        except ValueError:
            self.send_error(400, "Bad Range header")
            return None
        if first >= size or last < first:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        fh = open(path, "rb")  # closed by the base class after copyfile()
        fh.seek(first)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.send_header("Content-Length", str(last - first + 1))
        self.end_headers()
        self._range_left = last - first + 1
        return fh

    def end_headers(self) -> None:
        if not self.headers.get("Range"):
            self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def copyfile(self, source, outputfile) -> None:  # type: ignore[override]
        left = getattr(self, "_range_left", None)
        if left is None:
            return super().copyfile(source, outputfile)
        while left > 0:
            chunk = source.read(min(left, 1 << 16))
            if not chunk:
                break
            outputfile.write(chunk)
            left -= len(chunk)
        self._range_left = None
        return None


@contextmanager
def serve_in_thread(handler: type[http.server.BaseHTTPRequestHandler], port: int
                    ) -> Iterator[str]:
    """Run an HTTP server with ``handler`` on 127.0.0.1:``port`` in a thread; yield its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def range_http_server(directory: str | Path, port: int | None = None) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1 in a background thread; yields the base URL."""
    port = port or free_port()
    directory = str(directory)

    class Handler(RangeRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=directory, **kwargs)

    with serve_in_thread(Handler, port) as url:
        yield url


def rustac_binary() -> str | None:
    """The ``rustac`` executable next to the running Python (the virtualenv's), else on PATH."""
    exe = Path(sys.executable).parent / ("rustac.exe" if os.name == "nt" else "rustac")
    if exe.exists():
        return str(exe)
    return shutil.which("rustac")


def wait_for_http(url: str, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    """Poll ``url`` until it answers 200, the process dies, or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise RuntimeError(f"server exited with {proc.returncode}: {out[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s ({last})")


@contextmanager
def rustac_server(*hrefs: str | Path, port: int | None = None,
                  extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """Run ``rustac serve`` on 127.0.0.1 loading ``hrefs``; yields the API root URL."""
    exe = rustac_binary()
    if exe is None:
        raise FileNotFoundError("rustac executable not found next to sys.executable or on PATH")
    port = port or free_port()
    cmd = [exe, "serve", "--addr", f"127.0.0.1:{port}", *extra_args, *map(str, hrefs)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/", proc=proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
