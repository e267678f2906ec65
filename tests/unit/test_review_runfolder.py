"""Review packages from small hand-made run folders (no pipeline): reading a run, chips, tables,
the page. ``make_run_folder`` is shared with the other review unit tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import xarray as xr
from affine import Affine
from PIL import Image
from shapely.geometry import box

from geomon.errors import GeomonError
from geomon.export import write_composite, write_geojson
from geomon.review import ReviewStore, export_package
from geomon.review._run import default_store, read_run

CRS = "EPSG:32629"
X0, Y0 = 300000.0, 890000.0  # near 8.05 N 6.8 W, UTM 29N
PERIODS = [("2024Q1", "2024-01-01", "2024-03-31"), ("2024Q2", "2024-04-01", "2024-06-30"),
           ("2024Q3", "2024-07-01", "2024-09-30")]
BANDS = ("blue", "green", "red", "nir", "swir16", "swir22")


def square(x: float, y: float, size: float):
    """A square site (metres from the grid origin, lower-left corner)."""
    return box(X0 + x, Y0 + y, X0 + x + size, Y0 + y + size)


def make_run_folder(root: Path, geoms: list, *, aoi_id: str = "fake", run_id: str = "run-1",
                    confidences: list[float] | None = None, size_px: int = 64,
                    first_seen: list[str] | None = None) -> Path:
    """Write a minimal finished run folder: manifest, detections, composites.

    Sites are bright bare ground in the last two periods on a vegetated background.
    """
    run = root / "outputs" / "pipe" / run_id
    (run / "composites").mkdir(parents=True)
    n = len(geoms)
    confidences = confidences or [0.5] * n
    first_seen = first_seen or ["2024-04-01"] * n
    sites = gpd.GeoDataFrame({
        "id": [f"{aoi_id}-{i + 1:04d}" for i in range(n)], "aoi": aoi_id, "class": "mining",
        "first_seen": first_seen, "last_seen": "2024-07-01", "status": "active",
        "area_ha": [round(g.area / 1e4, 4) for g in geoms], "confidence": confidences,
        "periods": [["2024-04-01", "2024-07-01"] for _ in range(n)],
    }, geometry=list(geoms), crs=CRS)
    write_geojson(run / "detections.geojson", sites)
    top = Y0 + size_px * 10
    transform = Affine(10, 0, X0, 0, -10, top)
    rng = np.random.default_rng(0)
    import rasterio.features

    dug = rasterio.features.geometry_mask(geoms, (size_px, size_px), transform, invert=True) \
        if geoms else np.zeros((size_px, size_px), bool)
    for i, (label, _, _) in enumerate(PERIODS):
        veg = {"blue": 0.03, "green": 0.06, "red": 0.04, "nir": 0.35, "swir16": 0.18,
               "swir22": 0.09}
        soil = {"blue": 0.12, "green": 0.16, "red": 0.22, "nir": 0.28, "swir16": 0.36,
                "swir22": 0.30}
        data = {}
        for b in BANDS:
            arr = np.full((size_px, size_px), veg[b], "float32")
            if i > 0:
                arr = np.where(dug, soil[b], arr)
            data[b] = xr.DataArray(arr + rng.normal(0, 0.005, arr.shape).astype("float32"))
        write_composite(run / "composites" / f"{label}.tif", xr.Dataset(data), bands=BANDS,
                        transform=transform, crs=CRS)
    manifest = {
        "run_id": run_id, "pipeline": "pipe",
        "aoi": {"id": aoi_id, "name": f"Test {aoi_id}", "crs": CRS, "file": None},
        "periods": [{"period": p, "start": s, "end": e} for p, s, e in PERIODS],
    }
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


def package_copy(template: Path, dest: Path):
    """A fresh copy of a folder holding ``outputs/``, ``pkg/`` and ``review.sqlite`` (as made by
    :func:`package_template`), so each test starts from an exported package cheaply."""
    from geomon.review import ReviewPackage

    shutil.copytree(template, dest, dirs_exist_ok=True)
    doc = json.loads((dest / "pkg" / "package.json").read_text())
    return ReviewPackage(root=dest / "pkg", aoi_id=doc["aoi"], run_id=doc["run_id"],
                         store=dest / "review.sqlite", n_sites=len(doc["sites"]))


def package_template(root: Path, geoms: list) -> Path:
    """A run folder with its package exported to ``root/pkg`` and store ``root/review.sqlite``."""
    run = make_run_folder(root, geoms)
    export_package(run, out=root / "pkg", store=root / "review.sqlite")
    return root


@pytest.fixture
def run_folder(tmp_path):
    return make_run_folder(tmp_path, [square(100, 100, 100), square(400, 300, 60),
                                      square(200, 450, 40)], confidences=[0.9, 0.4, 0.7])


def test_read_run(run_folder):
    run = read_run(run_folder)
    assert run.aoi_id == "fake" and run.crs == CRS and run.run_id == "run-1"
    assert [p.label for p in run.periods] == ["2024Q1", "2024Q2", "2024Q3"]
    assert run.sites.crs.to_string() == CRS
    np.testing.assert_allclose(run.sites.area / 1e4, run.sites["area_ha"], rtol=1e-3)
    assert run.before("2024-04-01").label == "2024Q1"
    assert run.before("2024-01-01") is None
    assert run.last.label == "2024Q3"
    # no AOI file: the composites' footprint outlines the area
    assert run.outline.bounds == pytest.approx((X0, Y0, X0 + 640, Y0 + 640))
    assert default_store(run_folder) == run_folder.parent.parent / "review.sqlite"


def test_read_run_errors_name_the_file(tmp_path):
    with pytest.raises(GeomonError, match="no such run folder"):
        read_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GeomonError, match=r"manifest\.json"):
        read_run(tmp_path / "empty")


def test_export_package_contents(run_folder, tmp_path):
    store = tmp_path / "review.sqlite"
    pkg = export_package(run_folder, out=tmp_path / "pkg", store=store)
    assert pkg.n_sites == 3 and pkg.root == tmp_path / "pkg"

    layers = dict(pyogrio.list_layers(pkg.gpkg))
    assert set(layers) == {"sites", "exported"}
    sites = pyogrio.read_dataframe(pkg.gpkg, layer="sites")
    assert sites.crs.to_epsg() == 4326
    for col in ("id", "site_key", "review_status", "reviewer", "note", "reviewed_at", "aoi",
                "run_id", "area_ha", "confidence", "first_seen", "last_seen"):
        assert col in sites.columns, col
    assert set(sites["review_status"]) == {"pending"}
    keys = dict(zip(sites["id"], sites["site_key"], strict=True))
    assert len(set(keys.values())) == 3
    assert json.loads((pkg.root / "package.json").read_text())["sites"] == keys
    geo = json.loads(pkg.geojson.read_text())
    assert [f["properties"]["site_key"] for f in geo["features"]] == list(keys.values())

    # chips: four per site plus a locator map, the outline burnt in yellow
    chips = sorted(p.name for p in (pkg.root / "chips").iterdir())
    assert len(chips) == 12
    after = np.asarray(Image.open(pkg.root / "chips" / "fake-0001_after_tc.png"))[..., :3]
    before = np.asarray(Image.open(pkg.root / "chips" / "fake-0001_before_tc.png"))[..., :3]
    assert after.shape == before.shape and after.shape[0] >= 150
    yellow = (after[..., 0] > 200) & (after[..., 1] > 200) & (after[..., 2] < 60)
    assert yellow.sum() > 100, "site outline not drawn"
    # the site is bright ground after, vegetation before (same stretch for both)
    centre = np.s_[after.shape[0] // 2 - 5: after.shape[0] // 2 + 5,
                   after.shape[1] // 2 - 5: after.shape[1] // 2 + 5]
    assert after[centre].mean() > before[centre].mean() + 40
    assert (pkg.root / "locator" / "fake-0001.png").exists()

    # the page: self-contained apart from its own relative images, one card per site
    html = pkg.page.read_text()
    assert html.count('class="card"') == 3
    assert "http://" not in html and "https://" not in html, "the page must not load from the web"
    for key in keys.values():
        assert f'data-site-key="{key}"' in html
    assert 'src="chips/fake-0001_before_tc.png"' in html
    assert "Blob" in html and "api/decisions" in html
    assert ReviewStore(store).count_decisions() == 0


def test_export_again_keeps_keys_and_replaces_package(run_folder, tmp_path):
    store = tmp_path / "review.sqlite"
    first = export_package(run_folder, out=tmp_path / "pkg", store=store)
    keys1 = json.loads((first.root / "package.json").read_text())["sites"]
    (first.root / "stray.txt").write_text("left from before")
    second = export_package(run_folder, out=tmp_path / "pkg", store=store)
    assert json.loads((second.root / "package.json").read_text())["sites"] == keys1
    assert not (second.root / "stray.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pkg")]


def test_site_first_seen_in_first_period_has_no_before_chip(tmp_path):
    run = make_run_folder(tmp_path, [square(100, 100, 100)], first_seen=["2024-01-01"])
    pkg = export_package(run, out=tmp_path / "pkg", store=tmp_path / "r.sqlite")
    assert not (pkg.root / "chips" / "fake-0001_before_tc.png").exists()
    assert "no earlier imagery" in pkg.page.read_text()


def test_run_without_sites(tmp_path):
    run = make_run_folder(tmp_path, [])
    pkg = export_package(run, out=tmp_path / "pkg", store=tmp_path / "r.sqlite")
    assert pkg.n_sites == 0
    assert pkg.page.read_text().count('class="card"') == 0
