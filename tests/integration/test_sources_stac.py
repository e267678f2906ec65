"""The STAC source against real peers on loopback: ``rustac serve`` + a range-capable COG server.

End to end (search, pre-flight, odc-stac load over HTTP, reflectance), through the ``geomon run``
CLI, against a static catalog served over HTTP, and with faults injected into both servers.
"""

from __future__ import annotations

import json
import logging
from datetime import date

import numpy as np
import pytest

from geomon.config import SourceConfig
from geomon.errors import GeomonError
from geomon.sources import make_source
from tests.helpers import write_aoi, write_pipeline
from tests.integration.conftest import RUN_OK
from tests.integration.faults import Faults, fault_proxy, faulty_http_server
from tests.integration.servers import range_http_server, rustac_binary, rustac_server

pytestmark = pytest.mark.integration
needs_rustac = pytest.mark.skipif(rustac_binary() is None, reason="rustac not installed")

START, END = date(2024, 1, 1), date(2024, 3, 31)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A 64 px scene, Jan-Mar 2024 (19 acquisitions); served scenes rewrite its hrefs."""
    from geomon.sample import generate_scene

    root = tmp_path_factory.mktemp("stac-src") / "scene"
    return generate_scene(root, scenario="seguela", seed=11, size=64, start=START, end=END,
                          workers=1)


@pytest.fixture(scope="module")
def aoi(scene):
    from geomon.aoi import AOI
    from geomon.sample import scene_footprint

    geom = scene_footprint(scene.scenario, scene.size).buffer(-0.0002)
    return AOI(id="scene", name="scene", country="CIV", deposit_type="alluvial",
               catchment="x", notes="", geometry=geom)


def _served(scene, base: str):
    """The scene's ItemCollection with hrefs under ``base`` (rewritten in place)."""
    from geomon.sample import generate_scene

    return generate_scene(scene.root, scenario=scene.scenario, seed=scene.seed, size=scene.size,
                          start=scene.start, end=scene.end, href_prefix=base, workers=1)


def _source(**kw):
    kw.setdefault("max_cloud_cover", 100)
    kw.setdefault("retries", 3)
    kw.setdefault("backoff_s", 0.05)
    kw.setdefault("timeout_s", 10)
    return make_source(SourceConfig(kind="stac", **kw))


@pytest.fixture(scope="module")
def static_cube(scene, aoi):
    """The reference: the same scene from the static catalog on disk, computed."""
    cube = _source(catalog=scene.catalog).load(aoi, START, END, chunk_px=256)
    return cube, cube.data.compute()


@needs_rustac
def test_api_end_to_end_equals_static_catalog(scene, aoi, static_cube):
    ref_cube, ref = static_cube
    with range_http_server(scene.root) as base:
        served = _served(scene, base)
        with rustac_server(served.item_collection) as api:
            cube = _source(url=api).load(aoi, START, END, chunk_px=32)
            assert cube.data.blue.chunks is not None  # lazy, dask-backed
            got = cube.data.compute()
    assert dict(got.sizes) == dict(ref.sizes) == {"time": 19, "y": 60, "x": 60}
    assert {v: str(got[v].dtype) for v in got.data_vars} == {
        **{b: "float32" for b in ("blue", "green", "red", "nir", "swir16", "swir22")},
        "scl": "uint8"}
    for band in got.data_vars:
        np.testing.assert_array_equal(got[band].values, ref[band].values)
    assert cube.items == ref_cube.items and len(cube.items) == 19
    assert set(cube.items[0]) == {"id", "datetime", "cloud_cover", "platform",
                                  "processing_baseline"}
    assert cube.skipped == []
    # reflectance, not DN: the -0.1 offset from raster:bands is applied
    assert 0.0 < float(np.nanmedian(got.red.values)) < 0.5


def test_static_catalog_over_http(scene, aoi, static_cube):
    _, ref = static_cube
    with range_http_server(scene.root) as base:
        cube = _source(url=base + "catalog.json").load(aoi, START, END, chunk_px=256)
        got = cube.data.compute()
    np.testing.assert_array_equal(got.nir.values, ref.nir.values)


def test_unreachable_api_is_one_clear_error(aoi):
    from tests.integration.servers import free_port

    src = _source(url=f"http://127.0.0.1:{free_port()}/v1", retries=1)
    with pytest.raises(GeomonError, match="cannot reach"):
        src.load(aoi, START, END, chunk_px=256)


@needs_rustac
def test_faults_are_retried_and_a_truncated_asset_is_skipped(scene, aoi, caplog):
    first = json.loads(scene.item_collection.read_text())["features"][3]["id"]
    faults = Faults(
        fail_first={r"/B02\.tif$": (2, 503), r"/B11\.tif$": (2, 429)},
        truncate={rf"/{first}/B04\.tif$": 0.6},
        delay_s={r"/SCL\.tif$": 0.01},
    )
    api_faults = Faults(fail_first={r"/search": (2, 503)})
    caplog.set_level(logging.WARNING)
    with faulty_http_server(scene.root, faults) as base:
        served = _served(scene, base)
        with rustac_server(served.item_collection) as api, fault_proxy(api, api_faults) as proxy:
            cube = _source(url=proxy, retries=3).load(aoi, START, END, chunk_px=256)
            data = cube.data.compute()
    # every injected fault was answered, then retried until it passed
    assert len(api_faults.injected) == 2 and len(faults.injected) == 4
    assert "retry 1/3 of" in caplog.text and "HTTP 503" in caplog.text
    # the truncated asset, and only it, is skipped with its reason
    assert [(s["id"], s["asset"]) for s in cube.skipped] == [(first, "red")]
    assert cube.skipped[0]["datetime"].startswith(served_day(scene, first))
    assert cube.skipped[0]["reason"]
    assert f"skipped asset red of item {first}" in caplog.text
    # its time step has no red, everything else is there
    i = int(np.flatnonzero(data.time.dt.strftime("%Y%m%d").values
                           == first.split("_")[2])[0])
    assert np.isnan(data.red.values[i]).all()
    assert np.isfinite(data.nir.values[i]).mean() > 0.5
    assert np.isfinite(np.delete(data.red.values, i, axis=0)).mean() > 0.5


def served_day(scene, item_id: str) -> str:
    d = item_id.split("_")[2]
    return f"{d[:4]}-{d[4:6]}-{d[6:]}"


@needs_rustac
def test_cli_run_against_api_with_faults_marks_period_degraded(scene, tmp_path, cli, caplog):
    """`geomon run` over the API: completes, the skipped asset is in the manifest, degraded."""
    from geomon.sample import scene_footprint

    ids = [f["id"] for f in json.loads(scene.item_collection.read_text())["features"]]
    victim = next(i for i in ids if i.split("_")[2] >= "20240215")  # an assessed-period item
    faults = Faults(fail_first={r"/B08\.tif$": (1, 503)},
                    truncate={rf"/{victim}/B12\.tif$": 0.5})
    footprint = scene_footprint(scene.scenario, scene.size).buffer(-0.0002)
    write_aoi(tmp_path / "aoi", "scene", geometry=footprint.__geo_interface__)
    caplog.set_level(logging.WARNING)
    with faulty_http_server(scene.root, faults) as base:
        served = _served(scene, base)
        with rustac_server(served.item_collection) as api:
            pipe = write_pipeline(
                tmp_path, "served", aoi="scene", aoi_dir="aoi", start="2024-02-01",
                end="2024-03-31", period="month",
                source={"kind": "stac", "url": api, "max_cloud_cover": 100, "retries": 3,
                        "backoff_s": 0.05},
                estimate={"enabled": False})
            code, _, err = cli("run", pipe)
    assert code in RUN_OK, err
    (run,) = list((tmp_path / "out" / "served").iterdir())
    manifest = json.loads((run / "manifest.json").read_text())
    assert [(s["id"], s["asset"]) for s in manifest["skipped_assets"]] == [(victim, "swir22")]
    month = victim.split("_")[2][:4] + "-" + victim.split("_")[2][4:6]
    period = next(p for p in manifest["periods"] if p["period"] == month)
    assert period["degraded"] and period["skipped_assets"][0]["id"] == victim
    others = [p for p in manifest["periods"] if p["period"] != month]
    assert all(not p["skipped_assets"] for p in others)
    assert faults.injected and "retry" in caplog.text.lower()
    assert manifest["items_total"] == len([i for i in ids if i.split("_")[2] >= "20240101"])


