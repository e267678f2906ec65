"""The Sentinel Hub source against a loopback stand-in for CDSE, and (``live``) against CDSE itself.

The stand-in replays recorded token and Catalog API answers (``tests/data/sentinelhub``) and
answers Process API requests with UINT16 GeoTIFFs of the bands the evalscript returns, rendered
from a generated scene on the exact grid, time range and harmonization the request asks for, so
the cube can be compared with the same scene read through the STAC path. It records every
request for assertions.

When the evalscript asks for ``CLP``/``CLM`` it answers as Sentinel Hub does: one more band of
s2cloudless probability computed at 160 m from the scene's Level-1C twin (0-255), upsampled by
nearest neighbour, passed through the evalscript's rule (65535 where ``CLM`` is 255, i.e. the
tile has no cloud data, and where there is no data).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import threading
import urllib.parse
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.warp import Resampling, reproject

from geomon.config import SourceConfig
from geomon.errors import GeomonError
from geomon.sources import make_source
from tests.integration.conftest import RUN_OK
from tests.integration.faults import Faults
from tests.integration.servers import free_port, serve_in_thread

pytestmark = pytest.mark.integration

#: Loggers that see credentials or tokens pass by (captured at DEBUG; the rest at INFO, for speed).
WIRE_LOGGERS = ("requests_oauthlib", "oauthlib", "sentinelhub", "urllib3", "requests", "geomon",
                "odc", "rasterio")
DATA = Path(__file__).resolve().parents[1] / "data" / "sentinelhub"
SCENE = {"scenario": "seguela", "seed": 5, "size": 64, "start": "2024-01-01", "end": "2024-03-31",
         "l1c": True}
START, END = date(2024, 1, 1), date(2024, 3, 31)
CLIENT_ID = "geomon-test-client"
SECRET = "s3cr3t-VALUE-must-never-be-logged-8842"

#: Sentinel Hub computes CLP/CLM at this resolution, m.
CLP_RES = 160


def _returned_bands(evalscript: str) -> list[str]:
    """The input bands an evalscript returns, in order (``s.B02`` ...), as Sentinel Hub would
    evaluate ``return [...]``; the CLP expression is not one of them."""
    returned = evalscript.rsplit("return [", 1)[1].split("]", 1)[0]
    return [name for name in re.findall(r"\bs\.(\w+)", returned) if name not in ("CLM", "CLP")]


class ShEmulator:
    """Token, Catalog and Process endpoints of a Sentinel Hub deployment, on 127.0.0.1."""

    def __init__(self, scene, faults: Faults) -> None:
        self.scene = scene
        self.faults = faults
        self.requests: list[tuple[str, str, dict]] = []  # (path, auth header, body)
        self.lock = threading.Lock()
        items = json.loads(scene.item_collection.read_text())["features"]
        self.items = {i["properties"]["datetime"]: i for i in items
                      if i["collection"] == "sentinel-2-l2a"}
        self.no_clm: set[str] = set()  # datetimes of tiles served without CLP/CLM

    # -- answers ------------------------------------------------------------------------------

    def token(self, form: dict[str, str]) -> tuple[int, str, bytes]:
        ok = (form.get("grant_type") == "client_credentials" and form.get("client_id") == CLIENT_ID
              and form.get("client_secret") == SECRET)
        name = "token.json" if ok else "token-error.json"
        return (200 if ok else 401), "application/json", (DATA / name).read_bytes()

    def catalog(self, body: dict) -> tuple[int, str, bytes]:
        page = 2 if body.get("next") == 10 else 1
        return 200, "application/json", (DATA / f"catalog-page-{page}.json").read_bytes()

    def process(self, body: dict) -> tuple[int, str, bytes]:
        bounds, out = body["input"]["bounds"], body["output"]
        epsg = int(bounds["properties"]["crs"].rsplit("/", 1)[1])
        west, south, east, north = bounds["bbox"]
        w, h = out["width"], out["height"]
        rng = body["input"]["data"][0]["dataFilter"]["timeRange"]
        lo, hi = (datetime.fromisoformat(rng[k].replace("Z", "+00:00")) for k in ("from", "to"))
        hits = [i for t, i in self.items.items()
                if lo <= datetime.fromisoformat(t.replace("Z", "+00:00")) <= hi]
        transform = rasterio.transform.from_bounds(west, south, east, north, w, h)
        clp = '"CLP"' in body["evalscript"]
        files = _returned_bands(body["evalscript"])  # the bands, in the order it returns them
        stack = np.zeros((len(files) + clp, h, w), "uint16")
        harmonize = body["input"]["data"][0].get("processing", {}).get("harmonizeValues", True)
        for item in hits[:1]:
            folder = self.scene.root / "items" / item["id"]
            for b, name in enumerate(files):
                with rasterio.open(folder / f"{name}.tif") as src:
                    reproject(rasterio.band(src, 1), stack[b], dst_transform=transform,
                              dst_crs=f"EPSG:{epsg}", resampling=Resampling.nearest,
                              src_nodata=0, dst_nodata=0)
                if harmonize and name != "SCL":  # baseline 05.10: remove the +1000 DN offset
                    band = stack[b].astype("int32")
                    stack[b] = np.where(band > 0, np.clip(band - 1000, 1, None), 0)
            if clp:
                stack[-1] = self.clp(folder.parent / (item["id"].removesuffix("_L2A") + "_L1C"),
                                     transform, epsg, (h, w))
                if item["properties"]["datetime"] in self.no_clm:
                    stack[-1] = 65535
        if clp:
            stack[-1][stack[0] == 0] = 65535  # dataMask 0 (and days with no acquisition)
        buf = io.BytesIO()
        with rasterio.MemoryFile() as mem:
            with mem.open(driver="GTiff", width=w, height=h, count=stack.shape[0], dtype="uint16",
                          crs=f"EPSG:{epsg}", transform=transform) as dst:
                dst.write(stack)
            buf.write(mem.read())
        return 200, "image/tiff", buf.getvalue()

    @staticmethod
    def clp(l1c: Path, transform, epsg: int, shape: tuple[int, int]) -> np.ndarray:
        """Sentinel Hub's CLP: s2cloudless on the L1C bands at 160 m, nearest back, 0-255."""
        from s2cloudless import S2PixelCloudDetector

        from geomon.cloudprob import MODEL_BANDS

        h, w = shape
        f = CLP_RES / transform.a
        ch, cw = int(np.ceil(h / f)), int(np.ceil(w / f))
        coarse = transform * rasterio.Affine.scale(f)
        bands = np.zeros((ch, cw, len(MODEL_BANDS)), "float32")
        for k, name in enumerate(MODEL_BANDS):
            with rasterio.open(l1c / f"{name}.tif") as src:
                dn = np.zeros((ch, cw), "float32")
                reproject(rasterio.band(src, 1), dn, dst_transform=coarse, dst_crs=f"EPSG:{epsg}",
                          resampling=Resampling.average, src_nodata=0, dst_nodata=0)
            bands[..., k] = np.where(dn > 0, dn / 10000 - 0.1, 0)  # harmonized TOA
        prob = S2PixelCloudDetector(all_bands=False).get_cloud_probability_maps(bands[None])[0]
        out = np.zeros(shape, "float32")
        reproject(prob, out, src_transform=coarse, src_crs=f"EPSG:{epsg}",
                  dst_transform=transform, dst_crs=f"EPSG:{epsg}", resampling=Resampling.nearest)
        return np.rint(out * 255).astype("uint16")

    # -- server -------------------------------------------------------------------------------

    def serve(self):
        import http.server
        from contextlib import contextmanager

        emu = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = urllib.parse.urlsplit(self.path).path
                if path.endswith("/token"):
                    body = dict(urllib.parse.parse_qsl(raw.decode()))
                else:
                    body = json.loads(raw or b"{}")
                with emu.lock:
                    emu.requests.append((path, self.headers.get("Authorization", ""), body))
                status = emu.faults.before(path)
                if status is not None:
                    code, ctype, data = status, "application/json", b'{"error": "injected"}'
                elif path.endswith("/token"):
                    code, ctype, data = emu.token(body)
                elif path.endswith("/catalog/1.0.0/search"):
                    code, ctype, data = emu.catalog(body)
                elif path.endswith("/api/v1/process"):
                    code, ctype, data = emu.process(body)
                else:
                    code, ctype, data = 404, "application/json", b"{}"
                self.send_response(code)
                if code == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        @contextmanager
        def running():
            with serve_in_thread(Handler, free_port()) as url:
                yield url.rstrip("/")

        return running()

    def bodies(self, suffix: str) -> list[dict]:
        return [b for p, _, b in self.requests if p.endswith(suffix)]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    from geomon.sample import generate_scene

    return generate_scene(tmp_path_factory.mktemp("sh") / "scene", workers=1, **SCENE)


@pytest.fixture(scope="module")
def aoi(scene):
    from geomon.aoi import AOI
    from geomon.sample import scene_footprint

    geom = scene_footprint(scene.scenario, scene.size).buffer(-0.0002)
    return AOI(id="scene", name="scene", country="CIV", deposit_type="alluvial",
               catchment="x", notes="", geometry=geom)


@pytest.fixture(autouse=True)
def sh_env(monkeypatch, tmp_path, request):
    """Credentials in env, http token URL allowed, sentinelhub's config file in a temp dir."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    if "live" not in request.keywords:
        monkeypatch.setenv("SH_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("SH_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    from sentinelhub.download.sentinelhub_client import SentinelHubDownloadClient

    SentinelHubDownloadClient._CACHED_SESSIONS.clear()
    yield
    SentinelHubDownloadClient._CACHED_SESSIONS.clear()


def _debug_wire(caplog) -> None:
    caplog.set_level(logging.INFO)
    for name in WIRE_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)


def _source(base: str, tmp_path: Path, **kw):
    kw = {"max_cloud_cover": 100, "retries": 2, "backoff_s": 0.05, "timeout_s": 10, **kw}
    cfg = SourceConfig(kind="sentinelhub", sh_base_url=base, sh_token_url=f"{base}/oauth/token",
                       cache_dir=tmp_path / "cache", **kw)
    return make_source(cfg)


def test_cube_matches_stac_path_and_requests_are_right(scene, aoi, tmp_path, caplog):
    _debug_wire(caplog)
    faults = Faults(fail_first={r"/api/v1/process$": (1, 503), r"/search$": (1, 429)})
    emu = ShEmulator(scene, faults)
    with emu.serve() as base:
        cube = _source(base, tmp_path, max_request_px=32).load(aoi, START, END, chunk_px=1024)
        assert not emu.bodies("/process")  # lazy: nothing requested before compute
        got = cube.data.compute()
        n_process = len(emu.bodies("/process"))
        # a second load of the same request reads the on-disk cache: no new Process calls
        again = _source(base, tmp_path, max_request_px=32).load(aoi, START, END, chunk_px=1024)
        np.testing.assert_array_equal(again.data.red.values, got.red.values)
        assert len(emu.bodies("/process")) == n_process

    ref = make_source(SourceConfig(kind="stac", catalog=scene.catalog, max_cloud_cover=100)
                      ).load(aoi, START, END, chunk_px=1024).data.compute()
    assert dict(got.sizes) == dict(ref.sizes) == {"time": 19, "y": 60, "x": 60}
    np.testing.assert_array_equal(got.time.values, ref.time.values)
    np.testing.assert_array_equal(got.x.values, ref.x.values)
    np.testing.assert_array_equal(got.y.values, ref.y.values)
    assert got.odc.geobox == ref.odc.geobox
    for band in ("blue", "green", "red", "nir"):  # 10 m bands: same pixels, same reflectance
        assert got[band].dtype == np.float32
        r = ref[band].values  # (harmonized DN clip below 0 reflectance, as Sentinel Hub does)
        np.testing.assert_allclose(got[band].values, np.where(r < 0, 1e-4, r), atol=1e-6)
    for band in ("swir16", "swir22"):  # 20 m: nearest vs bilinear upsampling
        assert np.nanmean(np.abs(got[band].values - ref[band].values)) < 0.02
    assert got.scl.dtype == np.uint8
    assert (got.scl.values == ref.scl.values).mean() > 0.97
    assert cube.skipped == []
    assert len(cube.items) == 19 and cube.items[0]["id"].endswith(".SAFE")

    # catalog: paged, filtered, authorised
    searches = emu.bodies("/catalog/1.0.0/search")
    assert [s.get("next") for s in searches][:3] == [None, None, 10]  # 429 retried, page 2
    assert searches[0]["collections"] == ["sentinel-2-l2a"]
    assert searches[0]["filter"] == "eo:cloud_cover <= 100"
    assert searches[0]["datetime"] == "2024-01-01T00:00:00Z/2024-03-31T23:59:59Z"
    token = json.loads((DATA / "token.json").read_text())["access_token"]
    assert all(auth == f"Bearer {token}" for p, auth, _ in emu.requests if "token" not in p)

    # process: one request per (day, tile), 2 x 2 tiles of <= 32 px, + one retried 503
    bodies = emu.bodies("/api/v1/process")
    assert n_process == 19 * 4 + 1
    b = bodies[0]
    assert _returned_bands(b["evalscript"]) == ["B02", "B03", "B04", "B08", "B11", "B12", "SCL"]
    assert "UINT16" in b["evalscript"]
    assert b["input"]["bounds"]["properties"]["crs"].endswith("/EPSG/0/32629")
    data = b["input"]["data"][0]
    assert data["type"] == "sentinel-2-l2a"
    assert data["processing"] == {"harmonizeValues": True}
    assert data["dataFilter"]["mosaickingOrder"] == "leastCC"
    widths = sorted({(x["output"]["width"], x["output"]["height"]) for x in bodies})
    assert widths == [(28, 28), (28, 32), (32, 28), (32, 32)]
    gb = ref.odc.geobox
    boxes = [x["input"]["bounds"]["bbox"] for x in bodies]
    assert min(x[0] for x in boxes) == gb.boundingbox.left
    assert max(x[3] for x in boxes) == gb.boundingbox.top
    days = {x["input"]["data"][0]["dataFilter"]["timeRange"]["from"][:10] for x in bodies}
    assert len(days) == 19
    assert "retry" in caplog.text.lower() or "attempt failed" in caplog.text.lower()
    assert SECRET not in caplog.text and token not in caplog.text
    for f in (tmp_path / "cache").rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes() and token.encode() not in f.read_bytes()


def test_cloud_probability_comes_from_the_clp_band(scene, aoi, tmp_path):
    from geomon.mask import clear_sky
    from geomon.sources.sentinelhub import EVALSCRIPT, EVALSCRIPT_CLP

    emu = ShEmulator(scene, Faults())
    first = min(emu.items)
    emu.no_clm.add(first)  # the first day's tile has no CLP/CLM: unknown, not "clear"
    with emu.serve() as base:
        cube = _source(base, tmp_path, max_request_px=32).load(aoi, START, END, chunk_px=1024,
                                                               cloud_probability=True)
        assert not emu.bodies("/process")  # still lazy
        got = cube.data.compute()
    bodies = emu.bodies("/api/v1/process")
    assert {b["evalscript"] for b in bodies} == {EVALSCRIPT_CLP} != {EVALSCRIPT}
    assert '"CLP", "CLM", "dataMask"' in EVALSCRIPT_CLP and "bands: 8" in EVALSCRIPT_CLP
    assert cube.skipped == []

    prob = got.cloud_prob.values
    assert got.cloud_prob.dtype == np.float32 and prob.shape == got.blue.shape
    assert np.isnan(prob[0]).all()  # CLM 255 on the first day
    rest = prob[1:]
    known = rest[np.isfinite(rest)]
    # unknown exactly where there is no data (swath edges)
    np.testing.assert_array_equal(np.isnan(rest), np.isnan(got.blue.values[1:]))
    assert known.min() >= 0 and known.max() <= 1
    np.testing.assert_allclose(known * 255, np.rint(known * 255), atol=1e-3)  # DN / 255
    scl = got.scl.values[1:]
    cloudy, clear = scl == 9, np.isin(scl, (4, 5))  # SCL high-probability cloud, ground
    means = np.nanmean(rest[cloudy]), np.nanmean(rest[clear])
    assert means[0] > 0.5 and means[0] - means[1] > 0.2, means  # 0.62 and 0.32 (160 m mixes)

    with_prob = clear_sky(got, buffer_px=0, cloud_probability_threshold=0.4).values
    scl_only = clear_sky(got, buffer_px=0).values
    assert not (with_prob & ~scl_only).any()  # the probability only ever adds cloud
    assert (scl_only & ~with_prob).sum() > 0
    assert (with_prob[0] == scl_only[0]).all()  # unknown probability: SCL alone decides


def test_request_side_never_exceeds_2500(scene, aoi):
    from geomon.sources._grid import aoi_geobox, tiles

    gb = aoi_geobox(aoi)
    big = type(gb)(  # a 6000 x 5100 px grid over the same corner
        (5100, 6000), gb.affine, gb.crs)
    rows = tiles(big, 2500)
    assert rows[0][0].shape.yx == (2500, 2500)
    assert max(max(t.shape.y, t.shape.x) for r in rows for t in r) <= 2500
    assert sum(t.shape.x for t in rows[0]) == 6000 and sum(r[0].shape.y for r in rows) == 5100
    with pytest.raises(ValueError):
        SourceConfig(kind="sentinelhub", provider="cdse", max_request_px=4000)


def test_failed_tile_is_skipped_not_fatal(scene, aoi, tmp_path):
    emu = ShEmulator(scene, Faults(fail_first={r"/api/v1/process$": (3, 500)}))
    with emu.serve() as base:
        cube = _source(base, tmp_path, retries=1).load(aoi, date(2024, 1, 1), date(2024, 1, 10),
                                                     chunk_px=1024)
        cube.data.compute(scheduler="synchronous")
    assert len(cube.skipped) >= 1
    s = cube.skipped[0]
    assert s["asset"] == "process-api" and s["id"].endswith(".SAFE") and s["datetime"]
    assert SECRET not in json.dumps(cube.skipped)


def test_bad_credentials_error_does_not_leak_secret(scene, aoi, tmp_path, monkeypatch, caplog):
    _debug_wire(caplog)
    monkeypatch.setenv("SH_CLIENT_SECRET", SECRET + "-wrong")
    emu = ShEmulator(scene, Faults())
    with emu.serve() as base, pytest.raises(GeomonError) as err:
        _source(base, tmp_path).load(aoi, START, END, chunk_px=1024)
    assert "catalog search failed" in str(err.value)
    assert SECRET not in str(err.value) and SECRET not in caplog.text
    # and the form was really posted with the secret (so the test would catch a leak)
    assert emu.bodies("/token")[0]["client_secret"] == SECRET + "-wrong"


def test_missing_credentials_name_the_fix(aoi, tmp_path, monkeypatch):
    monkeypatch.delenv("SH_CLIENT_ID")
    monkeypatch.delenv("SH_CLIENT_SECRET")
    src = make_source(SourceConfig(kind="sentinelhub", provider="cdse"))
    with pytest.raises(GeomonError, match="SH_CLIENT_ID and SH_CLIENT_SECRET"):
        src.load(aoi, START, END, chunk_px=1024)
    assert not (tmp_path / "config" / "sentinelhub").exists()  # no config file was written


@pytest.mark.live
@pytest.mark.skipif(not os.environ.get("SH_CLIENT_ID"), reason="needs SH_CLIENT_ID (CDSE)")
def test_live_cdse_small_area(tmp_path, monkeypatch):  # pragma: no cover - needs credentials
    """The same path against CDSE: ten days over 1 km² of Séguéla (opts out of the net guard)."""
    import socket

    from shapely.geometry import box

    from tests.conftest import _real_connect, _real_connect_ex

    monkeypatch.setattr(socket.socket, "connect", _real_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _real_connect_ex)
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT")

    from geomon.aoi import AOI

    aoi = AOI(id="live", name="live", country="CIV", deposit_type="alluvial", catchment="x",
              notes="", geometry=box(-6.705, 7.995, -6.695, 8.005))
    cfg = SourceConfig(kind="sentinelhub", provider="cdse", cache_dir=tmp_path / "cache",
                       max_cloud_cover=100)
    cube = make_source(cfg).load(aoi, date(2024, 1, 1), date(2024, 1, 10), chunk_px=1024)
    data = cube.data.compute()
    assert data.sizes["time"] >= 1 and np.isfinite(data.red.values).any()


def test_cli_run_keeps_the_secret_out_of_every_output(scene, tmp_path, cli, caplog):
    """`geomon run` via Sentinel Hub: outputs, manifest, stdout/stderr and logs hold no secret."""
    from geomon.sample import scene_footprint
    from tests.helpers import write_aoi, write_pipeline

    _debug_wire(caplog)
    footprint = scene_footprint(scene.scenario, scene.size).buffer(-0.0002)
    write_aoi(tmp_path / "aoi", "scene", geometry=footprint.__geo_interface__)
    emu = ShEmulator(scene, Faults(fail_first={r"/api/v1/process$": (1, 503)}))
    with emu.serve() as base:
        pipe = write_pipeline(
            tmp_path, "sh", aoi="scene", aoi_dir="aoi", start="2024-02-01", end="2024-03-31",
            period="month",
            source={"kind": "sentinelhub", "sh_base_url": base,
                    "sh_token_url": f"{base}/oauth/token", "cache_dir": str(tmp_path / "cache"),
                    "max_cloud_cover": 100, "retries": 2, "backoff_s": 0.05},
            estimate={"enabled": False})
        code, out, err = cli("run", pipe)
    assert code in RUN_OK, err
    (run,) = list((tmp_path / "out" / "sh").iterdir())
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["items_total"] == 19 and manifest["skipped_assets"] == []
    assert manifest["parameters"]["source"]["kind"] == "sentinelhub"
    token = json.loads((DATA / "token.json").read_text())["access_token"]
    assert emu.bodies("/token")[0]["client_secret"] == SECRET  # it was really used
    for text in (out, err, caplog.text):
        assert SECRET not in text and token not in text
    for f in [*run.rglob("*"), *(tmp_path / "cache").rglob("*")]:
        if f.is_file():
            blob = f.read_bytes()
            assert SECRET.encode() not in blob and token.encode() not in blob, f
