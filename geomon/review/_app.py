"""The local review app: the review page plus a small JSON API, on loopback only.

Standard library only (:mod:`http.server`). Routes:

``GET /``                   the package's review page
``GET /chips/…``, ``/locator/…``, ``/sites.gpkg``, ``/sites.geojson``   package files
``GET /api/health``         ``{"app": "geomon-review", "aoi", "run_id", "store"}``
``GET /api/sites``          ``{"sites": [{"site_id", "site_key", "review"}]}``
``GET /api/sites/<key>``    one site's review with its history
``POST /api/decisions``     ``{"site_key", "status", "reviewer", "note"?, "site_id"?}`` → records
                            it (time: the server's clock) and answers ``{"recorded", "review"}``;
                            400 with ``{"error"}`` for bad input, nothing recorded.

The server binds 127.0.0.1. It answers only requests whose ``Host`` (and ``Origin``, when sent)
is this server, and POSTs only with ``Content-Type: application/json``, so a web page elsewhere
cannot make a browser write to the store (no CORS headers are ever sent).
"""

from __future__ import annotations

import json
import logging
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from geomon.errors import GeomonError
from geomon.review._decisions import STATUSES, Decision, utc_now
from geomon.review._effects import review_sites
from geomon.review._package import (
    default_package_dir,
    export_package,
    package_is_current,
    read_package,
)
from geomon.review._run import default_store, read_run
from geomon.review._store import ReviewStore

log = logging.getLogger(__name__)

__all__ = ["ReviewServer", "make_server", "serve_run"]

MAX_BODY = 64 * 1024
MAX_NOTE = 4000
_FILES = {"index.html", "sites.gpkg", "sites.geojson", "package.json"}


@dataclass(frozen=True)
class _Package:
    root: Path
    aoi_id: str
    run_id: str
    keys: dict[str, str]  # site_key -> site id


class ReviewServer(ThreadingHTTPServer):
    """An HTTP server for one review package and one review store."""

    daemon_threads = True

    def __init__(self, package: _Package, store: ReviewStore, address: tuple[str, int]) -> None:
        self.package = package
        self.store = store
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


def make_server(package_root: str | Path, store: str | Path, *, host: str = "127.0.0.1",
                port: int = 0) -> ReviewServer:
    """A review server for an exported package (not started: call ``serve_forever``).

    Parameters
    ----------
    package_root
        A folder written by :func:`geomon.review.export_package`.
    store
        The review store the package's site keys live in.
    host, port
        Where to listen; ``port=0`` picks a free port (see :attr:`ReviewServer.url`).
    """
    root = Path(package_root)
    doc = read_package(root)
    if doc is None:
        raise GeomonError("not a review package (no valid package.json)", path=root)
    pkg = _Package(root=root.resolve(), aoi_id=doc["aoi"], run_id=doc["run_id"],
                   keys={k: sid for sid, k in doc["sites"].items()})
    try:
        return ReviewServer(pkg, ReviewStore(Path(store)), (host, port))
    except OSError as exc:
        raise GeomonError(f"cannot listen on {host}:{port} ({exc.strerror})", field="--port",
                          expected="a free port, or 0 for any free port") from None


def serve_run(
    run_dir: str | Path,
    *,
    store: str | Path | None = None,
    out: str | Path | None = None,
    port: int = 8765,
    rebuild: bool = False,
    on_ready: Callable[[ReviewServer], None] | None = None,
) -> None:
    """Export the run's package if needed, then serve it until interrupted.

    The package is rebuilt when it is missing, of another run, or its site keys differ from the
    store's (e.g. another store was used to export it).
    """
    run = read_run(run_dir)
    st = ReviewStore(Path(store) if store is not None else default_store(run.path))
    root = Path(out) if out is not None else default_package_dir(run.path)
    identities, _ = review_sites(run.sites, aoi_id=run.aoi_id, store=st, run_id=run.run_id)
    keys = {i.site_id: i.site_key for i in identities}
    if rebuild or not package_is_current(root, run, keys):
        export_package(run.path, out=root, store=st.path)
    server = make_server(root, st.path, port=port)
    if on_ready is not None:
        on_ready(server)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


class _BadRequest(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    server_version = "geomon-review"
    protocol_version = "HTTP/1.1"

    # -- plumbing ----------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _allowed_hosts(self) -> set[str]:
        port = self.server.server_address[1]
        return {f"127.0.0.1:{port}", f"localhost:{port}"}

    def _check_origin(self) -> None:
        host = self.headers.get("Host", "")
        if host not in self._allowed_hosts():
            raise _BadRequest(HTTPStatus.FORBIDDEN, f"unexpected Host header {host!r}")
        origin = self.headers.get("Origin")
        if origin is not None and origin.removeprefix("http://") not in self._allowed_hosts():
            raise _BadRequest(HTTPStatus.FORBIDDEN, f"requests from {origin} are not accepted")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: HTTPStatus, doc: Any) -> None:
        self._send(status, json.dumps(doc).encode(), "application/json; charset=utf-8")

    def _guard(self, handler: Callable[[], None]) -> None:
        try:
            self._check_origin()
            handler()
        except _BadRequest as exc:
            self._json(exc.status, {"error": exc.message})
        except GeomonError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except Exception:  # the server keeps serving; the reviewer sees an error
            log.exception("review app: %s %s failed", self.command, self.path)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error (see log)"})

    # -- routes ------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._guard(self._get)

    def do_HEAD(self) -> None:
        self._guard(self._get)

    def do_POST(self) -> None:
        self._guard(self._post)

    def _get(self) -> None:
        path = unquote(urlsplit(self.path).path)
        pkg, store = self.server.package, self.server.store
        if path == "/api/health":
            self._json(HTTPStatus.OK, {"app": "geomon-review", "aoi": pkg.aoi_id,
                                       "run_id": pkg.run_id, "store": str(store.path)})
        elif path == "/api/sites":
            states = store.states(pkg.keys)
            self._json(HTTPStatus.OK, {"sites": [
                {"site_id": sid, "site_key": key, "review": states[key].to_dict()}
                for key, sid in pkg.keys.items()]})
        elif path.startswith("/api/sites/"):
            key = path.removeprefix("/api/sites/")
            if key not in pkg.keys:
                raise _BadRequest(HTTPStatus.NOT_FOUND, f"unknown site_key {key!r}")
            self._json(HTTPStatus.OK, {"site_id": pkg.keys[key], "site_key": key,
                                       "review": store.state(key).to_dict()})
        else:
            self._file(path)

    def _file(self, path: str) -> None:
        rel = "index.html" if path in ("/", "") else path.lstrip("/")
        target = (self.server.package.root / rel).resolve()
        root = self.server.package.root
        allowed = (rel in _FILES or rel.split("/", 1)[0] in ("chips", "locator"))
        if not allowed or root not in target.parents or not target.is_file():
            raise _BadRequest(HTTPStatus.NOT_FOUND, f"no such file {path!r}")
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if ctype.startswith("text/"):
            ctype += "; charset=utf-8"
        self._send(HTTPStatus.OK, target.read_bytes(), ctype)

    def _post(self) -> None:
        path = urlsplit(self.path).path
        if path != "/api/decisions":
            raise _BadRequest(HTTPStatus.NOT_FOUND, f"no such endpoint {path!r}")
        ctype = self.headers.get("Content-Type", "")
        if not ctype.split(";")[0].strip().lower() == "application/json":
            raise _BadRequest(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                              "send the decision as JSON (Content-Type: application/json)")
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            raise _BadRequest(HTTPStatus.BAD_REQUEST, "bad Content-Length") from None
        if length > MAX_BODY:
            raise _BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request too large")
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _BadRequest(HTTPStatus.BAD_REQUEST, "body is not valid JSON") from None
        decision, site_id = self._decision(body)
        store = self.server.store
        recorded = store.record([decision], source="app", run_id=self.server.package.run_id,
                                site_ids=[site_id])
        review = store.state(decision.site_key)
        if recorded:
            log.info("review: %s set %s to %s", decision.reviewer, site_id, decision.status)
        self._json(HTTPStatus.OK, {"recorded": bool(recorded), "review": review.to_dict()})

    def _decision(self, body: Any) -> tuple[Decision, str]:
        if not isinstance(body, dict):
            raise _BadRequest(HTTPStatus.BAD_REQUEST, "expected a JSON object")
        pkg = self.server.package
        key = body.get("site_key")
        if not isinstance(key, str) or key not in pkg.keys:
            raise _BadRequest(HTTPStatus.BAD_REQUEST,
                              f"site_key: unknown site {key!r} in run {pkg.run_id}")
        site_id = pkg.keys[key]
        if body.get("site_id") not in (None, site_id):
            raise _BadRequest(HTTPStatus.BAD_REQUEST,
                              f"site_id: {body['site_id']!r} is not the site with key {key}")
        status = body.get("status")
        if status not in STATUSES:
            raise _BadRequest(HTTPStatus.BAD_REQUEST,
                              f"status: unknown status {status!r} (expected one of "
                              f"{', '.join(STATUSES)})")
        reviewer = body.get("reviewer")
        if not isinstance(reviewer, str) or not reviewer.strip():
            raise _BadRequest(HTTPStatus.BAD_REQUEST, "reviewer: a decision needs a reviewer")
        note = body.get("note", "")
        if note is None:
            note = ""
        if not isinstance(note, str) or len(note) > MAX_NOTE:
            raise _BadRequest(HTTPStatus.BAD_REQUEST,
                              f"note: expected text of at most {MAX_NOTE} characters")
        return Decision(key, status, reviewer.strip(), note.strip(), utc_now()), site_id
