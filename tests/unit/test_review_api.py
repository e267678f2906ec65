"""The review app's HTTP API, on a real server on a free loopback port."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from geomon.review import ReviewStore, make_server
from tests.unit.test_review_runfolder import package_copy, package_template, square


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return package_template(tmp_path_factory.mktemp("template"),
                            [square(100, 100, 100), square(400, 300, 60)])


@pytest.fixture
def app(template, tmp_path):
    pkg = package_copy(template, tmp_path)
    server = make_server(pkg.root, pkg.store, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    keys = json.loads((pkg.root / "package.json").read_text())["sites"]
    yield server, keys, pkg
    server.shutdown()
    server.server_close()


def call(server, path, body=None, *, method=None, headers=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    hdrs.update(headers or {})
    req = urllib.request.Request(server.url.rstrip("/") + path, data=data, headers=hdrs,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type"), exc.read()


def test_page_and_files(app):
    server, _keys, _ = app
    assert server.url.startswith("http://127.0.0.1:")
    status, ctype, body = call(server, "/")
    assert status == 200 and ctype.startswith("text/html") and b'class="card"' in body
    status, ctype, body = call(server, "/chips/fake-0001_after_tc.png")
    assert status == 200 and ctype == "image/png" and body[:4] == b"\x89PNG"
    assert call(server, "/sites.gpkg")[0] == 200
    for bad in ("/../review.sqlite", "/%2e%2e/review.sqlite", "/chips/../../review.sqlite",
                "/chips/nothing.png", "/etc/passwd", "/package.json/.."):
        assert call(server, bad)[0] == 404, bad


def test_health_and_sites(app):
    server, keys, pkg = app
    status, _, body = call(server, "/api/health")
    doc = json.loads(body)
    assert status == 200 and doc["app"] == "geomon-review" and doc["aoi"] == "fake"
    assert doc["run_id"] == "run-1" and doc["store"] == str(pkg.store)
    sites = json.loads(call(server, "/api/sites")[2])["sites"]
    assert {s["site_id"]: s["site_key"] for s in sites} == keys
    assert all(s["review"]["status"] == "pending" for s in sites)


def test_post_decisions(app):
    server, keys, pkg = app
    k1 = keys["fake-0001"]
    status, _, body = call(server, "/api/decisions", {
        "site_key": k1, "site_id": "fake-0001", "status": "rejected", "reviewer": "alice",
        "note": "river bank"})
    doc = json.loads(body)
    assert status == 200 and doc["recorded"] is True
    assert doc["review"]["status"] == "rejected" and doc["review"]["note"] == "river bank"
    # the same again: accepted, nothing new recorded
    again = json.loads(call(server, "/api/decisions", {
        "site_key": k1, "status": "rejected", "reviewer": "alice", "note": "river bank"})[2])
    assert again["recorded"] is False
    # a second reviewer who disagrees: a conflict, shown as such
    doc = json.loads(call(server, "/api/decisions", {
        "site_key": k1, "status": "confirmed", "reviewer": "bob"})[2])
    assert doc["review"]["status"] == "conflict"
    one = json.loads(call(server, f"/api/sites/{k1}")[2])
    assert [h["reviewer"] for h in one["review"]["history"]] == ["alice", "bob"]
    assert ReviewStore(pkg.store).count_decisions() == 2


@pytest.mark.parametrize(("body", "code", "message"), [
    ({"site_key": "fake-knope", "status": "confirmed", "reviewer": "a"}, 400, "site_key"),
    ({"site_key": "K1", "status": "approved", "reviewer": "a"}, 400, "unknown status"),
    ({"site_key": "K1", "status": "confirmed", "reviewer": " "}, 400, "reviewer"),
    ({"site_key": "K1", "status": "confirmed"}, 400, "reviewer"),
    ({"site_key": "K1", "site_id": "fake-0002", "status": "confirmed", "reviewer": "a"}, 400,
     "site_id"),
    ({"site_key": "K1", "status": "confirmed", "reviewer": "a", "note": 5}, 400, "note"),
    (["not", "an", "object"], 400, "JSON object"),
])
def test_bad_decisions_are_refused(app, body, code, message):
    server, keys, pkg = app
    if isinstance(body, dict) and body.get("site_key") == "K1":
        body = {**body, "site_key": keys["fake-0001"]}
    status, ctype, resp = call(server, "/api/decisions", body)
    assert status == code and ctype.startswith("application/json")
    assert message in json.loads(resp)["error"]
    assert ReviewStore(pkg.store).count_decisions() == 0


def test_requests_from_elsewhere_are_refused(app):
    server, keys, pkg = app
    body = {"site_key": keys["fake-0001"], "status": "rejected", "reviewer": "mallory"}
    # a form post (what another web page could make a browser send without asking)
    status, _, _ = call(server, "/api/decisions", raw=b"site_key=x",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415
    assert call(server, "/api/decisions", body, headers={"Origin": "http://evil.example"})[0] \
        == 403
    assert call(server, "/api/health", headers={"Host": "evil.example"})[0] == 403
    assert call(server, "/api/decisions", raw=b"{not json")[0] == 400
    assert call(server, "/api/other", body)[0] == 404
    assert ReviewStore(pkg.store).count_decisions() == 0
