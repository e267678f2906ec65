"""Local folders (naming rule and index.csv), two UTM zones mosaicked, provider asset names."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import date

import numpy as np
import pystac
import pytest
import rasterio
from rasterio.warp import Resampling, calculate_default_transform, reproject
from rasterio.windows import Window

from geomon.aoi import AOI
from geomon.config import SourceConfig
from geomon.errors import GeomonError, NoImageryError
from geomon.sources import make_source
from geomon.sources._load_items import load_items
from geomon.sources._retry import RetryPolicy
from geomon.sources.providers import PLANETARY_COMPUTER

START, END = date(2024, 1, 1), date(2024, 1, 31)
CODES = ("B02", "B03", "B04", "B08", "B8A", "B11", "B12", "SCL")


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    from geomon.sample import generate_scene

    return generate_scene(tmp_path_factory.mktemp("local") / "scene", scenario="seguela", seed=2,
                          size=64, start=START, end=END, workers=1)


@pytest.fixture(scope="module")
def aoi(scene):
    from geomon.sample import scene_footprint

    geom = scene_footprint(scene.scenario, scene.size).buffer(-0.0002)
    return AOI(id="s", name="s", country="CIV", deposit_type="alluvial", catchment="x", notes="",
               geometry=geom)


@pytest.fixture(scope="module")
def reference(scene, aoi):
    src = make_source(SourceConfig(kind="stac", catalog=scene.catalog, max_cloud_cover=100))
    return src.load(aoi, START, END, chunk_px=64).data.compute()


def _ids(scene):
    return sorted(f["id"] for f in json.loads(scene.item_collection.read_text())["features"])


def _local(folder, **kw):
    return make_source(SourceConfig(kind="local", folder=folder, max_cloud_cover=100, **kw))


def test_naming_rule_folder_equals_stac(scene, aoi, reference, tmp_path):
    for item_id in _ids(scene):
        day = item_id.split("_")[2]
        for code in CODES:
            shutil.copy(scene.root / "items" / item_id / f"{code}.tif",
                        tmp_path / f"{day}_{code}.tif")
    (tmp_path / "notes.txt").write_text("ignored")
    cube = _local(tmp_path).load(aoi, START, END, chunk_px=64)
    got = cube.data.compute()
    assert dict(got.sizes) == dict(reference.sizes)
    np.testing.assert_array_equal(got.scl.values, reference.scl.values)
    # no metadata: offset 0 assumed, so reflectance is the STAC one + 0.1 (documented)
    np.testing.assert_allclose(got.red.values, reference.red.values + 0.1, atol=1e-6)
    assert cube.items[0]["id"].startswith("local_2024") and cube.skipped == []


def test_index_csv_with_baseline_equals_stac(scene, aoi, reference, tmp_path):
    rows = []
    for item_id in _ids(scene):
        item = json.loads((scene.root / "items" / item_id / f"{item_id}.json").read_text())
        for code in CODES:
            rows.append({"path": f"{item_id}/{code}.tif",
                         "datetime": item["properties"]["datetime"], "band": code,
                         "scene": "29PQJ", "cloud_cover": 3,
                         "platform": item["properties"]["platform"],
                         "processing_baseline": "05.10"})
        shutil.copytree(scene.root / "items" / item_id, tmp_path / item_id)
    with (tmp_path / "index.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    cube = _local(tmp_path).load(aoi, START, END, chunk_px=64)
    got = cube.data.compute()
    for band in ("blue", "green", "red", "nir", "scl"):
        np.testing.assert_array_equal(got[band].values, reference[band].values)
    for band in ("swir16", "swir22"):  # 20 m: bilinear on a differently declared grid
        np.testing.assert_allclose(got[band].values, reference[band].values, atol=1e-3)
    assert cube.items[0]["processing_baseline"] == "05.10" and cube.items[0]["cloud_cover"] == 3
    np.testing.assert_array_equal(got.time.values, reference.time.values)


def test_two_utm_zones_mosaic_onto_the_aoi_grid(scene, aoi, reference, tmp_path):
    """West half in zone 29 (as delivered), east half reprojected to zone 30: one grid, no seam."""
    for item_id in _ids(scene):
        day = item_id.split("_")[2]
        for code in CODES:
            src_path = scene.root / "items" / item_id / f"{code}.tif"
            with rasterio.open(src_path) as src:
                half = src.width // 2
                prof = src.profile | {"width": half + 2, "driver": "GTiff"}
                west = src.read(window=Window(0, 0, half + 2, src.height))
                with rasterio.open(tmp_path / f"{day}_west_{code}.tif", "w",
                                   **(prof | {"transform": src.window_transform(
                                       Window(0, 0, half + 2, src.height))})) as dst:
                    dst.write(west)
                win = Window(half - 2, 0, src.width - half + 2, src.height)
                east, east_tr = src.read(window=win), src.window_transform(win)
                bounds = rasterio.windows.bounds(win, src.transform)
                tr, w, h = calculate_default_transform(src.crs, "EPSG:32630", east.shape[2],
                                                      east.shape[1], *bounds)
                out = np.zeros((1, h, w), east.dtype)
                reproject(east, out, src_transform=east_tr, src_crs=src.crs, dst_transform=tr,
                          dst_crs="EPSG:32630", resampling=Resampling.nearest, src_nodata=0,
                          dst_nodata=0)
                with rasterio.open(tmp_path / f"{day}_east_{code}.tif", "w",
                                   **(prof | {"crs": "EPSG:32630", "transform": tr, "width": w,
                                              "height": h})) as dst:
                    dst.write(out)
    cube = _local(tmp_path).load(aoi, START, END, chunk_px=64)
    got = cube.data.compute()
    assert cube.data.odc.geobox == reference.odc.geobox  # the AOI's zone-29 grid
    assert got.sizes["time"] == reference.sizes["time"]  # one time step per solar day
    assert len(cube.items) == 2 * reference.sizes["time"]  # from two items per day
    ok = np.isfinite(reference.nir.values)
    assert np.isfinite(got.nir.values[ok]).mean() > 0.999  # no seam between the zones
    west = got.x.values < float(reference.x.values[reference.sizes["x"] // 2 - 4])
    # no metadata in the names: offset 0 assumed (reference + 0.1); zone 29 half is untouched
    np.testing.assert_allclose(got.nir.values[..., west], reference.nir.values[..., west] + 0.1,
                               atol=1e-6)
    assert np.nanmean(np.abs(got.nir.values - 0.1 - reference.nir.values)) < 0.02


def test_empty_or_bad_folders_are_clear_errors(aoi, tmp_path):
    with pytest.raises(GeomonError, match="folder does not exist"):
        _local(tmp_path / "missing").load(aoi, START, END, chunk_px=64)
    with pytest.raises(GeomonError, match="no GeoTIFF named"):
        _local(tmp_path).load(aoi, START, END, chunk_px=64)
    (tmp_path / "index.csv").write_text("path,datetime,band\nx.tif,2024-01-01,B99\n")
    with pytest.raises(GeomonError, match="row 2: unknown band"):
        _local(tmp_path).load(aoi, START, END, chunk_px=64)


def test_no_imagery_in_range_raises(scene, aoi, tmp_path):
    item_id = _ids(scene)[0]
    for code in CODES:
        shutil.copy(scene.root / "items" / item_id / f"{code}.tif",
                    tmp_path / f"20240101_{code}.tif")
    with pytest.raises(NoImageryError):
        _local(tmp_path).load(aoi, date(2023, 1, 1), date(2023, 2, 1), chunk_px=64)


def test_planetary_computer_asset_names_and_baseline_offset(scene, aoi, reference):
    """PC items name assets B02..SCL and declare no offset: mapped, offset from the baseline."""
    items = []
    ours = {v: k for k, v in PLANETARY_COMPUTER.assets.items()}  # B02 -> blue ...
    for it in pystac.ItemCollection.from_file(str(scene.item_collection)).items:
        pc = it.clone()
        pc.assets = {}
        for key, asset in it.assets.items():
            code = next((c for c, name in ours.items() if name == key), None)
            if code is None:
                continue
            a = asset.clone()
            a.extra_fields.pop("raster:bands", None)
            pc.add_asset(code, a)
        items.append(pc)
    cube = load_items(items, aoi, chunk_px=64, policy=RetryPolicy(retries=0),
                      assets=PLANETARY_COMPUTER.assets)
    got = cube.data.compute()
    for band in got.data_vars:
        np.testing.assert_array_equal(got[band].values, reference[band].values)


def test_asset_missing_everywhere_is_an_error(scene, aoi):
    items = pystac.ItemCollection.from_file(str(scene.item_collection)).items
    for it in items:
        it.assets.pop("swir22")
    with pytest.raises(GeomonError, match="swir22 could not be read"):
        load_items(items, aoi, chunk_px=64, policy=RetryPolicy(retries=0))
