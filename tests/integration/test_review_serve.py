"""``geomon review serve`` as a real process on loopback: its HTTP API, and the review page's
controls clicked in headless Chromium (Debian's chromium + chromedriver, via selenium) in the app
and offline (JSON export through a Blob download, then ``geomon review import``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from geomon.review import ReviewStore, export_package, import_decisions
from tests.integration.test_review_roundtrip import review_run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def template(tmp_path_factory, small_scene):
    """The run's package and store, exported once; each test serves a fresh copy."""
    run_dir = review_run(tmp_path_factory, small_scene)
    base = tmp_path_factory.mktemp("serve-template")
    export_package(run_dir, out=base / "pkg", store=base / "review.sqlite")
    return run_dir, base


@pytest.fixture
def served(template, tmp_path):
    """``geomon review serve RUN --port 0`` in a subprocess; yields (url, store, package)."""
    run_dir, base = template
    shutil.copytree(base, tmp_path, dirs_exist_ok=True)
    store, pkg = tmp_path / "review.sqlite", tmp_path / "pkg"
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "geomon.review.commands", "serve", str(run_dir),
         "--port", "0", "--store", str(store), "--out", str(pkg)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = None
        deadline = time.monotonic() + 90
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                if proc.poll() is not None:
                    pytest.fail(f"review serve exited: {proc.stderr.read()}")
                continue
            m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
            url = m.group(1) if m else None
        assert url, "review serve did not report its address"
        yield url, store, pkg
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def api(url, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data,
                                 headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_serve_api(served):
    url, store, _pkg = served
    health = api(url, "api/health")
    assert health["app"] == "geomon-review" and health["store"] == str(store)
    sites = api(url, "api/sites")["sites"]
    assert sites and all(s["review"]["status"] == "pending" for s in sites)
    key = sites[0]["site_key"]
    doc = api(url, "api/decisions", {"site_key": key, "status": "confirmed",
                                     "reviewer": "alice", "note": "pits and spoil"})
    assert doc["recorded"] and doc["review"]["status"] == "confirmed"
    # saved in the store at once, by the server process
    st = ReviewStore(store).state(key)
    assert (st.status, st.reviewer, st.note) == ("confirmed", "alice", "pits and spoil")
    assert st.history[0].source == "app"
    page = urllib.request.urlopen(url, timeout=10).read().decode()
    assert page.count('class="card"') == len(sites)


# -- the page in a browser -------------------------------------------------------------------

def _browser(tmp_path: Path):
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("browser test needs Debian's chromium and chromium-driver "
                    "(apt-get install chromium chromium-driver); the HTTP API is tested above")
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="browser test needs the selenium package")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1200,900", f"--user-data-dir={tmp_path / 'chrome-profile'}"):
        opts.add_argument(arg)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    opts.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False})
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager must not try the network
    browser = webdriver.Chrome(options=opts,
                               service=webdriver.ChromeService(executable_path=driver))
    browser.set_page_load_timeout(30)
    return browser, downloads


@pytest.fixture
def browser(tmp_path):
    b, downloads = _browser(tmp_path)
    try:
        yield b, downloads
    finally:
        b.quit()


def _wait(condition, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_page_controls_save_to_the_store(served, browser, tmp_path):
    from selenium.webdriver.common.by import By

    url, store, _pkg = served
    b, _ = browser
    b.get(url)
    _wait(lambda: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "app",
          what="the page to connect to the app")
    assert "Connected to the review app" in b.find_element(By.ID, "mode").text
    cards = b.find_elements(By.CSS_SELECTOR, ".card")
    first, second = cards[0], cards[1]
    key1, key2 = first.get_attribute("data-site-key"), second.get_attribute("data-site-key")

    # no reviewer name yet: nothing is saved, the card says why
    first.find_element(By.CSS_SELECTOR, "input[value=rejected]").click()
    assert "Reviewer" in first.find_element(By.CSS_SELECTOR, "[data-role=saved]").text
    assert ReviewStore(store).state(key1).status == "pending"

    b.find_element(By.ID, "reviewer").send_keys("alice")
    first.find_element(By.CSS_SELECTOR, "input[value=rejected]").click()
    _wait(lambda: first.find_element(By.CSS_SELECTOR, "[data-role=saved]").text == "saved",
          what="the first decision to be saved")
    assert ReviewStore(store).state(key1).status == "rejected"

    second.find_element(By.CSS_SELECTOR, "input[value=confirmed]").click()
    _wait(lambda: ReviewStore(store).state(key2).status == "confirmed", what="second decision")
    second.find_element(By.CSS_SELECTOR, "[data-role=note]").send_keys("spoil heaps, water")
    second.find_element(By.CSS_SELECTOR, "[data-role=save]").click()
    _wait(lambda: ReviewStore(store).state(key2).note == "spoil heaps, water",
          what="the note to be saved")
    assert second.find_element(By.CSS_SELECTOR, "[data-role=badge]").text == "confirmed"
    assert [h.status for h in ReviewStore(store).state(key2).history] == ["confirmed",
                                                                          "confirmed"]

    # another reviewer disagrees (through the API); the page shows a conflict, not a winner
    api(url, "api/decisions", {"site_key": key1, "status": "confirmed", "reviewer": "bob"})
    b.refresh()
    _wait(lambda: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "app",
          what="reload")
    first = b.find_elements(By.CSS_SELECTOR, ".card")[0]
    assert first.find_element(By.CSS_SELECTOR, "[data-role=badge]").text == "conflict"
    summary = first.find_element(By.CSS_SELECTOR, "[data-role=summary]").text
    assert "alice says rejected" in summary and "bob says confirmed" in summary
    assert not first.find_elements(By.CSS_SELECTOR, "input[data-role=status]:checked")
    assert "1 conflict" in b.find_element(By.ID, "counts").text
    b.save_screenshot(str(tmp_path / "review-app.png"))


def test_offline_page_exports_json_for_import(served, browser, tmp_path):
    from selenium.webdriver.common.by import By

    _, store, pkg = served
    b, downloads = browser
    b.get((pkg / "index.html").as_uri())
    _wait(lambda: b.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "offline",
          what="the offline page")
    assert "Offline page" in b.find_element(By.ID, "mode").text
    b.find_element(By.ID, "reviewer").send_keys("dana")
    card = b.find_elements(By.CSS_SELECTOR, ".card")[-1]
    key = card.get_attribute("data-site-key")
    card.find_element(By.CSS_SELECTOR, "input[value=needs_field_visit]").click()
    card.find_element(By.CSS_SELECTOR, "[data-role=note]").send_keys("check the stream bed")
    card.find_element(By.CSS_SELECTOR, "[data-role=save]").click()
    assert "kept in this browser" in card.find_element(By.CSS_SELECTOR, "[data-role=saved]").text
    assert ReviewStore(store).state(key).status == "pending"  # nothing written offline
    b.find_element(By.ID, "export").click()
    exported = _wait(lambda: [p for p in downloads.glob("decisions-*.json")],
                     what="the JSON download")[0]
    doc = json.loads(exported.read_text())
    assert doc["format"] == "geomon-review-decisions" and len(doc["decisions"]) == 1
    result = import_decisions(exported, store=store)
    assert result.recorded == 1
    st = ReviewStore(store).state(key)
    assert (st.status, st.reviewer, st.note) == ("needs_field_visit", "dana",
                                                 "check the stream bed")
