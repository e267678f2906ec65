"""`geomon run` end to end on a generated scene: outputs, contracts, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from shapely.geometry import shape

from geomon.runs import sha256_file
from tests.integration.conftest import RUN_OK

pytestmark = pytest.mark.integration

CONTRACT = {"id", "aoi", "class", "first_seen", "last_seen", "status", "area_ha", "confidence",
            "periods"}


def _only_run(out_root, name="scene"):
    runs = sorted(p for p in (out_root / name).iterdir())
    assert all(not p.name.startswith(".") for p in runs), "a partial run folder was left behind"
    return runs


def test_run_writes_contract_outputs(cli, scene_pipeline, small_scene, tmp_path):
    code, out, err = cli("run", scene_pipeline())
    assert code in RUN_OK, err
    (run,) = _only_run(tmp_path / "out")
    assert str(run) in out

    det = run / "detections.geojson"
    info = pyogrio.read_info(det)
    assert info["crs"] == "EPSG:4326"
    doc = json.loads(det.read_text())
    assert doc["features"], "the scene has digging; nothing was detected"
    for f in doc["features"]:
        assert CONTRACT <= set(f["properties"])
        geom = shape(f["geometry"])
        assert geom.is_valid
        assert f["properties"]["status"] in {"active", "inactive", "revegetating"}
        assert 0 <= f["properties"]["confidence"] <= 1
        # right-hand rule: exterior rings counter-clockwise
        for poly in getattr(geom, "geoms", [geom]):
            assert poly.exterior.is_ccw
    assert info["features"] == len(doc["features"])

    # area_ha is the UTM area, not degrees
    import geopandas as gpd

    gdf = gpd.read_file(det).to_crs(small_scene.epsg)
    np.testing.assert_allclose(gdf.area / 1e4, gdf["area_ha"], rtol=1e-3)

    manifest = json.loads((run / "manifest.json").read_text())
    used = {i["id"] for p in manifest["periods"] for i in p["items"]}
    catalog_items = json.loads(small_scene.item_collection.read_text())["features"]
    in_range = {f["id"] for f in catalog_items}
    assert used == in_range  # the whole year: baseline Q1 + Q2..Q4
    assert manifest["outputs"]["detections.geojson"] == sha256_file(det)
    assert {"numpy", "odc-stac", "rasterio"} <= set(manifest["software"])

    areas = (run / "areas.csv").read_text().splitlines()
    assert areas[0].startswith("period,")
    last = areas[-1].split(",")
    html = (run / "report.html").read_text()
    assert f'<span id="new-ha">{float(last[3]):.2f}</span>' in html
    assert f'<span id="n-sites">{len(doc["features"])}</span>' in html
    assert "http://" not in html and "https://" not in html.replace(
        "https://earth-search", "")  # nothing fetched from the network


def test_detections_overlap_truth(cli, scene_pipeline, small_scene, tmp_path):
    code, _, err = cli("run", scene_pipeline())
    assert code in RUN_OK, err
    (run,) = _only_run(tmp_path / "out")
    import geopandas as gpd

    det = gpd.read_file(run / "detections.geojson").to_crs(small_scene.epsg)
    truth = gpd.read_file(small_scene.truth).to_crs(small_scene.epsg)
    d, t = shapely.union_all(det.geometry), shapely.union_all(truth.geometry)
    precision = d.intersection(t).area / d.area
    recall = d.intersection(t).area / t.area
    assert precision > 0.6, precision
    assert recall > 0.5, recall


def test_quiet_run_prints_nothing_and_its_status_says_if_periods_were_degraded(
        cli, scene_pipeline, tmp_path):
    code, out, err = cli("-q", "run", scene_pipeline())
    assert out == ""
    assert "INFO" not in err
    (run,) = _only_run(tmp_path / "out")
    manifest = json.loads((run / "manifest.json").read_text())
    assessed = manifest["periods"][1:]  # the first is the baseline quarter
    degraded = [p["period"] for p in assessed if p["degraded"]]
    assert code == (3 if degraded else 0)


def test_second_run_never_touches_the_first(cli, scene_pipeline, tmp_path):
    path = scene_pipeline()
    assert cli("run", path)[0] in RUN_OK
    (first,) = _only_run(tmp_path / "out")
    before = {p.name: sha256_file(p) for p in first.rglob("*") if p.is_file()}
    assert cli("run", path)[0] in RUN_OK
    runs = _only_run(tmp_path / "out")
    assert len(runs) == 2
    assert {p.name: sha256_file(p) for p in first.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"aoi": "atlantis"}, "unknown AOI id 'atlantis'"),
        ({"source": {"kind": "stac", "catalog": "missing/catalog.json"}}, "catalog file does not"),
        ({"start": "2022-04-01", "end": "2022-12-31"}, "no sentinel-2-l2a imagery"),
        ({"detection": {"dem": "missing-dem.tif"}}, "detection.dem: cannot read the DEM"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, scene_pipeline, tmp_path, overrides, words):
    code, _, err = cli("run", scene_pipeline(**overrides))
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and words in lines[0], err
    assert "Traceback" not in err
    runs = tmp_path / "out" / "scene"
    assert not runs.exists() or not list(runs.iterdir())


def test_a_dem_adds_its_streams_to_the_run_and_is_recorded(cli, scene_pipeline, small_scene,
                                                          tmp_path):
    from datetime import date

    import rasterio

    from geomon.sample._world import build_world

    dem = small_scene.root / "dem.tif"
    code, _, err = cli("run", scene_pipeline(detection={"dem": str(dem),
                                                        "dem_catchment_km2": 0.05}))
    assert code in RUN_OK, err
    (run,) = _only_run(tmp_path / "out")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["dem"] == {"file": str(dem), "sha256": sha256_file(dem)}
    with rasterio.open(run / "rasters" / "dem_streams.tif") as src:
        streams = src.read(1).astype(bool)
        # the AOI grid lies inside the scene's: find its rows and columns there
        a, _, c, _, e, f = small_scene.transform
        row0, col0 = round((src.transform.f - f) / e), round((src.transform.c - c) / a)
    world = build_world(small_scene.scenario, small_scene.seed, small_scene.size,
                        date(2024, 1, 1), date(2024, 12, 31))
    dist = world.land.dist_stream[row0:row0 + streams.shape[0], col0:col0 + streams.shape[1]]
    assert streams.sum() > 100
    # on a 1.2 km scene the catchments are cut short, so some DEM streams start on hillsides;
    # the typical one still lies on a simulated stream (the 256 px match is in test_dem)
    assert np.median(dist[streams]) <= 20 < np.median(dist) / 5


def test_installed_entry_point_help():
    exe = Path(sys.executable).with_name("geomon")
    res = subprocess.run([exe, "--help"], capture_output=True, text=True, check=False)
    assert res.returncode == 0
    for command in ("run", "sample", "aoi"):
        assert command in res.stdout
