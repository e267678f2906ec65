"""The run's products for people, end to end on the small generated scene: report (HTML and
PDF), maps, exports and the ``map`` command. The pipeline runs once for the module."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import dask
import numpy as np
import pyogrio
import pytest
import rasterio
from click.testing import CliRunner
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar
from PIL import Image
from shapely.geometry import mapping, shape

from geomon.report.kml import KML_NS
from tests.helpers import write_aoi, write_pipeline

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run_dir(small_scene, tmp_path_factory) -> Path:
    """One finished run over ``small_scene``, with the production estimate on."""
    from geomon.pipeline import run_pipeline
    from geomon.sample import scene_footprint

    root = tmp_path_factory.mktemp("report-run")
    sample = json.loads((REPO / "aoi" / "sample.geojson").read_text())
    footprint = scene_footprint(small_scene.scenario, small_scene.size).buffer(-0.0002)
    write_aoi(root / "aoi", "scene", geometry=mapping(footprint), name="Report test scene",
              parameters=sample["properties"]["parameters"])
    shutil.copy(REPO / "pipelines" / "sample-declared.csv", root / "declared.csv")
    path = write_pipeline(root, "scene", aoi="scene", aoi_dir="aoi",
                          source={"kind": "stac", "catalog": str(small_scene.catalog),
                                  "max_cloud_cover": 100},
                          estimate={"draws": 2000, "seed": 0, "declared": "declared.csv"})
    # threads, whatever scheduler an earlier test may have left in dask's global config
    with dask.config.set(scheduler="threads"):
        return run_pipeline(path).run_dir


@pytest.fixture(scope="module")
def detections(run_dir) -> list[dict]:
    return json.loads((run_dir / "detections.geojson").read_text())["features"]


@pytest.fixture(scope="module")
def periods(run_dir) -> list[dict]:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return [p for p in manifest["periods"]
            if (run_dir / "rasters" / f"state_{p['period']}.tif").exists()]


def _span(doc: str, id_: str) -> str:
    m = re.search(rf'<span id="{re.escape(id_)}"[^>]*>([^<]*)</span>', doc)
    assert m, f"no element {id_!r} in the report"
    return m.group(1)


def test_products_are_written_and_checksummed(run_dir, detections, periods):
    assert detections, "the scene has digging; nothing was detected"
    expected = ["report.html", "report.pdf", "detections.gpkg", "detections.kml",
                "detections.kmz", "sites.csv", "aoi.geojson"]
    expected += [f"maps/{p['period']}.{ext}" for p in periods for ext in ("png", "pdf")]
    largest = sorted(detections, key=lambda f: -f["properties"]["area_ha"])[:3]
    expected += [f"maps/site_{f['properties']['id']}_{periods[-1]['period']}.{ext}"
                 for f in largest for ext in ("png", "pdf")]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for rel in expected:
        assert (run_dir / rel).is_file(), rel
        assert rel in manifest["outputs"], f"{rel} is not in the manifest's checksums"
    assert not [p for p in run_dir.rglob(".*")], "temporary files left in the run folder"


def test_headline_numbers_equal_the_data_files(run_dir, detections):
    doc = (run_dir / "report.html").read_text()
    rows = list(csv.DictReader((run_dir / "areas.csv").open()))
    last = rows[-1]
    assert _span(doc, "new-ha") == f"{float(last['new_ha']):.2f}"
    assert _span(doc, "active-ha") == f"{float(last['active_ha']):.2f}"
    assert _span(doc, "cumulative-ha") == f"{float(last['cumulative_ha']):.2f}"
    assert int(_span(doc, "n-sites")) == len(detections)
    n_active = sum(f["properties"]["status"] == "active" for f in detections)
    assert int(_span(doc, "n-active")) == n_active
    estimate = json.loads((run_dir / "estimate.json").read_text())
    latest = [r for r in estimate["periods"] if r["period"] == last["period"]]
    assert {r["method"] for r in latest} == {"volumetric", "labour"}
    for r in latest:
        assert _span(doc, f"est-{r['method']}-p50") == f"{r['p50']:,.0f}"
    # every id once: the summary is the only place with these ids
    for id_ in ("new-ha", "active-ha", "cumulative-ha", "n-sites", "n-active"):
        assert doc.count(f'id="{id_}"') == 1
    # the per-period area table shows every period of areas.csv
    for r in rows:
        assert re.search(rf"<td class=\"l\">{r['period']}</td><td class=\"l\">[^<]*</td>"
                         rf"<td>{float(r['new_ha']):.2f}</td>", doc), r["period"]


def test_per_period_site_tables_add_up_to_the_period_areas(run_dir):
    rows = {r["period"]: r for r in csv.DictReader((run_dir / "areas.csv").open())}
    gpkg = run_dir / "detections.gpkg"
    for label, r in rows.items():
        part = pyogrio.read_dataframe(gpkg, layer=f"mining_{label}")
        assert part["new_ha_in_period"].sum() == pytest.approx(float(r["new_ha"]), abs=0.006)
        assert part["dug_ha_in_period"].sum() == pytest.approx(float(r["active_ha"]), abs=0.006)


def test_html_is_self_contained(run_dir):
    doc = (run_dir / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", doc, re.I)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", doc, re.I)
    assert "<script" not in doc.lower() and "<link" not in doc.lower()
    srcs = re.findall(r'<img src="([^"]+)"', doc)
    n_periods = len(re.findall(r'<section id="period-', doc))
    assert len(srcs) >= 2 + n_periods  # two charts and one map per period, at least
    for src in srcs:
        m = re.fullmatch(r"data:image/(png|jpeg);base64,([A-Za-z0-9+/=]+)", src)
        assert m, src[:60]
        with Image.open(io.BytesIO(base64.b64decode(m.group(2)))) as im:
            im.verify()
            assert im.format.lower() == m.group(1) and min(im.size) > 100


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="chromium is not installed (apt-get install chromium; see "
                           "docs/reports.md, CI prerequisites)")
def test_html_renders_in_headless_chromium(run_dir, tmp_path):
    shot = tmp_path / "report.png"
    proc = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1100,2400",
         f"--screenshot={shot}", (run_dir / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    with Image.open(shot) as im:
        px = np.asarray(im.convert("RGB"), dtype=float)
    assert px.shape[:2] == (2400, 1100)
    assert px.std() > 20, "the screenshot is (nearly) blank"
    # the summary box's background colour is there: the stylesheet was applied
    assert (np.abs(px - [247, 247, 242]).sum(axis=-1) < 3).mean() > 0.02


@pytest.mark.skipif(shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
                    reason="poppler-utils (pdftoppm, pdftotext) is not installed "
                           "(apt-get install poppler-utils; see docs/reports.md)")
def test_pdf_pages_convert_and_say_what_the_html_says(run_dir, periods, tmp_path):
    pdf = run_dir / "report.pdf"
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(pdf), str(tmp_path / "page")],
                   check=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2 + len(periods)  # summary, one per period, sites, estimate...
    for page in pages:
        with Image.open(page) as im:
            assert im.size == pytest.approx((248, 351), abs=2)  # A4 at 30 dpi
            assert np.asarray(im.convert("L")).std() > 5, f"{page.name} is blank"
    first = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-layout", str(pdf), "-"],
                           check=True, capture_output=True, text=True).stdout
    doc = (run_dir / "report.html").read_text()
    text = " ".join(first.split())
    for id_ in ("new-ha", "active-ha", "cumulative-ha"):
        assert f"{_span(doc, id_)} ha" in text, id_
    assert f"{_span(doc, 'n-sites')} mapped sites" in text
    assert f"volumetric {html.unescape(_span(doc, 'est-volumetric-p50'))} ct" in text
    assert "Report test scene" in text
    every = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True,
                           text=True).stdout
    for p in periods:
        assert f"{p['period']}: {p['start']} to {p['end']}" in every


def test_exports_open_with_gdal(run_dir, detections, periods):
    gpkg = run_dir / "detections.gpkg"
    layers = dict(pyogrio.list_layers(gpkg))
    assert {"mining", "mining_utm", "confounders", "aoi"} <= set(layers)
    assert {f"mining_{p['period']}" for p in periods} <= set(layers)
    info = pyogrio.read_info(gpkg, layer="mining")
    assert info["crs"] == "EPSG:4326" and info["features"] == len(detections)
    utm = pyogrio.read_dataframe(gpkg, layer="mining_utm")
    assert utm.crs.to_epsg() == 32629 and utm.geometry.is_valid.all()
    np.testing.assert_allclose(utm.geometry.area / 1e4, utm["area_ha"], rtol=1e-3)
    assert sorted(utm["id"]) == sorted(f["properties"]["id"] for f in detections)
    for p in periods:
        n = sum(p["start"] in f["properties"]["periods"] for f in detections)
        assert pyogrio.read_info(gpkg, layer=f"mining_{p['period']}")["features"] == n
    conf = json.loads((run_dir / "confounders.geojson").read_text())["features"]
    assert pyogrio.read_info(gpkg, layer="confounders")["features"] == len(conf)
    assert pyogrio.read_info(gpkg, layer="aoi")["features"] == 1

    root = ET.fromstring((run_dir / "detections.kml").read_bytes())
    ns = f"{{{KML_NS}}}"
    (folder,) = [f for f in root.iter(f"{ns}Folder") if f.get("id") == "sites"]
    assert len(folder.findall(f"{ns}Placemark")) == len(detections)
    with zipfile.ZipFile(run_dir / "detections.kmz") as z:
        assert z.read("doc.kml").decode() == (run_dir / "detections.kml").read_text()

    rows = list(csv.DictReader((run_dir / "sites.csv").open()))
    assert len(rows) == len(detections)
    by_id = {f["properties"]["id"]: f for f in detections}
    for r in rows:
        geom = shape(by_id[r["id"]]["geometry"])
        assert geom.buffer(0.002).contains(
            shape({"type": "Point",
                   "coordinates": [float(r["centroid_lon"]), float(r["centroid_lat"])]}))
        assert float(r["area_ha"]) == by_id[r["id"]]["properties"]["area_ha"]

    for p in periods:
        with rasterio.open(run_dir / "rasters" / f"state_{p['period']}.tif") as src:
            assert src.colormap(1)[1][:3] == (230, 25, 75)
            assert src.crs.to_epsg() == 32629


def test_map_command_makes_before_after_maps(run_dir, detections, periods, tmp_path):
    from geomon.report.commands import map_command

    site = max(detections, key=lambda f: f["properties"]["area_ha"])["properties"]["id"]
    last = periods[-1]["period"]
    result = CliRunner().invoke(map_command, [str(run_dir), "--site", site, "--period", last,
                                              "--false-colour", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    png = tmp_path / f"site_{site}_{last}_false-colour.png"
    assert f"wrote {png}" in result.output
    with Image.open(png) as im:
        assert im.info["dpi"][0] == pytest.approx(300, abs=1)
        assert im.size[0] >= 3000
    assert (tmp_path / f"site_{site}_{last}_false-colour.pdf").read_bytes()[:5] == b"%PDF-"

    bad = CliRunner().invoke(map_command, [str(run_dir), "--site", "nope", "--period", last])
    assert bad.exit_code != 0 and "no site 'nope'" in str(bad.exception)
    bad = CliRunner().invoke(map_command, [str(run_dir), "--site", site, "--period", "1999Q1"])
    assert "unknown period '1999Q1'" in str(bad.exception)


def test_site_map_from_disk_has_every_map_element(run_dir, detections, periods):
    from geomon.report.site_maps import run_periods, site_pair

    first = min(detections, key=lambda f: f["properties"]["first_seen"])["properties"]
    pair = site_pair(run_dir, run_periods(run_dir), site=first["id"],
                     period=periods[-1]["period"])
    fig = pair.figure()
    fig.canvas.draw()
    assert len(fig.axes) == 2
    before, after = fig.axes
    assert before.get_title(loc="left").startswith("Before: ")
    assert after.get_title(loc="left").startswith(f"After: {periods[-1]['period']}")
    for ax in fig.axes:
        gids = {a.get_gid() for a in ax.findobj()}
        assert {"backdrop", "graticule", "north-arrow", "attribution"} <= gids
        assert any(isinstance(a, AnchoredSizeBar) for a in ax.artists)
        assert any(g and g.startswith("sites-") for g in gids)
    assert "Contains modified Copernicus Sentinel data 2024" in {
        t.get_text() for t in after.texts}
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "area of interest" in labels
    assert fig._suptitle.get_text().startswith(f"Site {first['id']}: ")
    import matplotlib.pyplot as plt

    plt.close(fig)
