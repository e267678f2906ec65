"""Exports read back with GDAL (pyogrio, rasterio) and the standard library: counts, CRS,
validity, properties; per-site history sums to the per-period areas."""

from __future__ import annotations

import csv
import json
import math
import zipfile
from xml.etree import ElementTree as ET

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon, box, shape

from geomon.export import (
    CONFOUNDER_COLOURS,
    SITE_CSV_COLUMNS,
    STATE_COLOURS,
    feature_collection,
    layer_name,
    write_cog,
    write_geojson,
    write_geopackage,
    write_sites_csv,
)
from geomon.report.kml import KML_NS, kml_document, write_kmz
from geomon.report.maps import STATUS_COLOURS
from geomon.report.site_activity import site_history, site_labels, site_state

CRS = "EPSG:32629"
X0, Y0 = 752_000.0, 886_000.0
TRANSFORM = Affine(10, 0, X0, 0, -10, Y0)
K = f"{{{KML_NS}}}"


def _cell(c0, r0, c1, r1):
    return box(X0 + c0 * 10, Y0 - r1 * 10, X0 + c1 * 10, Y0 - r0 * 10)


@pytest.fixture
def mining() -> gpd.GeoDataFrame:
    holed = Polygon(_cell(0, 0, 10, 10).exterior.coords, [_cell(4, 4, 6, 6).exterior.coords])
    rows = [
        {"id": "t-0001", "aoi": "t", "class": "mining", "first_seen": "2024-04-01",
         "last_seen": "2024-10-01", "status": "active", "area_ha": 0.96, "confidence": 0.9,
         "periods": ["2024-04-01", "2024-10-01"], "geometry": holed},
        {"id": "t-0002", "aoi": "t", "class": "mining", "first_seen": "2024-07-01",
         "last_seen": "2024-07-01", "status": "revegetating", "area_ha": 0.5, "confidence": 0.6,
         "periods": ["2024-07-01"],
         "geometry": MultiPolygon([_cell(20, 0, 25, 5), _cell(30, 0, 35, 5)])},
        {"id": "t-0003", "aoi": "t", "class": "mining", "first_seen": "2024-10-01",
         "last_seen": "2024-10-01", "status": "inactive", "area_ha": 0.25, "confidence": 0.5,
         "periods": ["2024-10-01"], "geometry": _cell(0, 20, 5, 25)},
    ]
    return gpd.GeoDataFrame(rows, crs=CRS)


@pytest.fixture
def confounders() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        [{"id": "t-c0001", "aoi": "t", "class": "road", "first_seen": np.nan,
          "last_seen": np.nan, "area_ha": 0.2, "periods": [], "geometry": _cell(40, 0, 41, 20)}],
        crs=CRS)


@pytest.fixture
def aoi() -> gpd.GeoDataFrame:
    geom = Transformer.from_crs(CRS, 4326, always_xy=True).transform_bounds(
        X0 - 100, Y0 - 400, X0 + 500, Y0 + 100)
    return gpd.GeoDataFrame([{"id": "t", "name": "Test", "country": "CIV"}],
                            geometry=[box(*geom)], crs="EPSG:4326")


def test_geojson_missing_values_are_null_not_nan(confounders, tmp_path):
    path = write_geojson(tmp_path / "c.geojson", confounders)
    doc = json.loads(path.read_text())  # NaN would still parse here; strict JSON would not
    json.dumps(doc, allow_nan=False)
    assert doc["features"][0]["properties"]["first_seen"] is None
    assert "NaN" not in path.read_text()


def test_geopackage_layers_crs_counts_validity(mining, confounders, aoi, tmp_path):
    wgs = mining.to_crs(4326)
    path = write_geopackage(tmp_path / "detections.gpkg", {
        "mining": wgs, "mining_utm": mining, "confounders": confounders.to_crs(4326),
        "aoi": aoi, "mining_2024Q4": wgs[wgs["last_seen"] == "2024-10-01"],
        "mining_2024-07-01_2024-09-30": wgs.iloc[:0],
    })
    layers = dict(pyogrio.list_layers(path))
    assert layers == {"mining": "MultiPolygon", "mining_utm": "MultiPolygon",
                      "confounders": "MultiPolygon", "aoi": "MultiPolygon",
                      "mining_2024Q4": "MultiPolygon",
                      "mining_2024_07_01_2024_09_30": "MultiPolygon"}
    info = pyogrio.read_info(path, layer="mining")
    assert info["crs"] == "EPSG:4326" and info["features"] == 3
    assert pyogrio.read_info(path, layer="mining_utm")["crs"] == CRS
    assert pyogrio.read_info(path, layer="mining_2024Q4")["features"] == 2
    assert pyogrio.read_info(path, layer="mining_2024_07_01_2024_09_30")["features"] == 0
    back = pyogrio.read_dataframe(path, layer="mining_utm")
    assert back.geometry.is_valid.all()
    assert list(back["id"]) == ["t-0001", "t-0002", "t-0003"]
    assert back.loc[0, "periods"] == "2024-04-01,2024-10-01"  # lists as text
    np.testing.assert_allclose(back.geometry.area / 1e4, [0.96, 0.5, 0.25])
    conf = pyogrio.read_dataframe(path, layer="confounders")
    assert conf.loc[0, "first_seen"] is None or (isinstance(conf.loc[0, "first_seen"], float)
                                                 and math.isnan(conf.loc[0, "first_seen"]))
    assert not list(tmp_path.glob(".*"))  # no temporary left behind


def test_layer_names_are_safe():
    assert layer_name("mining_2024Q2") == "mining_2024Q2"
    assert layer_name("mining_2024-04-01_2024-05-15") == "mining_2024_04_01_2024_05_15"


def test_sites_csv_has_centroids_in_degrees(mining, tmp_path):
    path = write_sites_csv(tmp_path / "sites.csv", mining)
    rows = list(csv.DictReader(path.open()))
    assert tuple(rows[0]) == SITE_CSV_COLUMNS
    assert [r["id"] for r in rows] == ["t-0001", "t-0002", "t-0003"]
    inv = Transformer.from_crs(CRS, 4326, always_xy=True)
    for r, geom in zip(rows, mining.geometry, strict=True):
        lon, lat = inv.transform(geom.centroid.x, geom.centroid.y)
        assert float(r["centroid_lat"]) == pytest.approx(lat, abs=1e-5)
        assert float(r["centroid_lon"]) == pytest.approx(lon, abs=1e-5)
    assert rows[0]["periods"] == "2024-04-01;2024-10-01"
    assert rows[1]["status"] == "revegetating" and float(rows[1]["area_ha"]) == 0.5


def test_empty_sites_csv_has_a_header(mining, tmp_path):
    path = write_sites_csv(tmp_path / "sites.csv", mining.iloc[:0])
    assert path.read_text().splitlines() == [",".join(SITE_CSV_COLUMNS)]


def test_kml_one_styled_placemark_per_site_with_balloon(mining, confounders, aoi, tmp_path):
    text = kml_document(mining, confounders=confounders, aoi=aoi, name="test")
    root = ET.fromstring(text.encode())
    assert root.tag == f"{K}kml"
    (sites,) = [f for f in root.iter(f"{K}Folder") if f.get("id") == "sites"]
    placemarks = sites.findall(f"{K}Placemark")
    assert [p.findtext(f"{K}name") for p in placemarks] == ["t-0001", "t-0002", "t-0003"]
    styles = {s.get("id"): s for s in root.iter(f"{K}Style")}
    for pm, status in zip(placemarks, mining["status"], strict=True):
        sid = pm.findtext(f"{K}styleUrl").lstrip("#")
        assert sid == f"site-{status}"
        colour = styles[sid].findtext(f"{K}LineStyle/{K}color")
        r, g, b = STATUS_COLOURS[status][1:3], STATUS_COLOURS[status][3:5], \
            STATUS_COLOURS[status][5:7]
        assert colour == f"ff{b}{g}{r}"  # KML is aabbggrr
    balloon = placemarks[0].findtext(f"{K}description")
    for needle in ("t-0001", "active", "0.96 ha", "2024-04-01", "2024-10-01", "0.90"):
        assert needle in balloon
    data = {d.get("name"): d.findtext(f"{K}value")
            for d in placemarks[0].iter(f"{K}Data")}
    assert data["area_ha"] == "0.96" and data["confidence"] == "0.9"
    # geometry: lon/lat, the hole kept, the two-part site as MultiGeometry
    assert placemarks[0].find(f".//{K}innerBoundaryIs") is not None
    assert len(placemarks[1].findall(f".//{K}Polygon")) == 2
    coords = placemarks[2].findtext(f".//{K}outerBoundaryIs/{K}LinearRing/{K}coordinates")
    lon, lat, _ = map(float, coords.split()[0].split(","))
    assert -6.8 < lon < -6.6 and 7.9 < lat < 8.1
    assert len(list(root.iter(f"{K}Placemark"))) == 3 + 1 + 1  # sites, road, aoi
    path = write_kmz(tmp_path / "d.kmz", text)
    with zipfile.ZipFile(path) as z:
        assert z.namelist() == ["doc.kml"]
        ET.fromstring(z.read("doc.kml"))


def test_kml_exterior_rings_are_counter_clockwise(mining):
    root = ET.fromstring(kml_document(mining).encode())
    for ring in root.iter(f"{K}outerBoundaryIs"):
        pts = [tuple(map(float, c.split(",")[:2])) for c in
               ring.findtext(f"{K}LinearRing/{K}coordinates").split()]
        assert Polygon(pts).exterior.is_ccw


def test_cog_colour_table_and_overviews(tmp_path):
    data = np.random.default_rng(0).integers(0, 4, (600, 600)).astype("uint8")
    path = write_cog(tmp_path / "state.tif", data, transform=TRANSFORM, crs=CRS,
                     colormap=STATE_COLOURS)
    with rasterio.open(path) as src:
        assert src.overviews(1) == [2, 4]
        assert src.colormap(1)[1] == STATE_COLOURS[1]
        assert src.crs.to_string() == CRS
    assert set(CONFOUNDER_COLOURS) >= {0, 1, 2, 3}


def test_site_history_sums_to_the_per_period_areas(mining):
    state = np.zeros((3, 40, 50), "uint8")
    lab = site_labels(mining, state.shape[1:], TRANSFORM)
    assert (lab[4:6, 4:6] == 0).all() and (lab[0, 0] == 1)  # the hole is not the site
    state[0][lab == 1] = 1          # Q2: site 1 opened
    state[1][lab == 2] = 1          # Q3: site 2 opened
    state[2][lab == 1] = 2          # Q4: site 1 dug again...
    state[2][(lab == 1) & (np.arange(50)[None, :] < 2)] = 1  # ...and a strip of it is new
    state[2][lab == 2] = 3          # site 2 revegetating
    state[2][lab == 3] = 1          # site 3 opened
    h = site_history(mining, state, TRANSFORM, ["Q2", "Q3", "Q4"])
    np.testing.assert_allclose(h.new_ha.sum(axis=0), [(state[i] == 1).sum() / 100
                                                     for i in range(3)])
    np.testing.assert_allclose(h.digging_ha[0], [0.96, 0.0, 0.96])
    np.testing.assert_allclose(h.revegetating_ha[1], [0, 0, 0.5])
    assert h.states(mining, 2, "2024-10-01") == ["active", "revegetating", "new"]
    assert h.states(mining, 0, "2024-04-01") == ["new", "later", "later"]


@pytest.mark.parametrize(("start", "reveg", "expected"), [
    ("2024-01-01", False, "later"), ("2024-04-01", False, "new"), ("2024-07-01", False, "active"),
    ("2024-10-01", False, "inactive"), ("2024-10-01", True, "revegetating"),
])
def test_site_state(start, reveg, expected):
    assert site_state("2024-04-01", ["2024-04-01", "2024-07-01"], start,
                      revegetating=reveg) == expected


def test_feature_collection_roundtrip_keeps_shape(mining):
    fc = feature_collection(mining)
    back = gpd.GeoDataFrame.from_features(fc["features"], crs=4326).to_crs(CRS)
    for a, b in zip(back.geometry, mining.geometry, strict=True):
        # 7 decimals of a degree is about 1 cm: a 1 cm band around the outline at most
        assert shape(a.__geo_interface__).symmetric_difference(b).area < 0.01 * b.length


def test_reviewed_sites_carry_their_review_into_csv_and_kml(mining, tmp_path):
    mining = mining.assign(review_status=["confirmed", "rejected", None])
    rows = list(csv.DictReader(write_sites_csv(tmp_path / "s.csv", mining).open()))
    assert list(rows[0])[-1] == "review_status"
    assert [r["review_status"] for r in rows] == ["confirmed", "rejected", ""]
    root = ET.fromstring(kml_document(mining).encode())
    pm = next(root.iter(f"{K}Placemark"))
    assert "confirmed" in pm.findtext(f"{K}description")


def test_review_summary_counts_and_reviewed_areas(mining):
    from datetime import date

    from geomon.report._context import _review
    from geomon.vectorize import PeriodArea

    mapped = [PeriodArea("Q4", date(2024, 10, 1), date(2024, 12, 31), 2.0, 3.0, 5.0)]
    reviewed = [PeriodArea("Q4", date(2024, 10, 1), date(2024, 12, 31), 1.0, 2.0, 3.0)]
    assert _review(mining, reviewed, mapped) is None  # no review columns: no review section
    r = _review(mining.assign(review_status=["rejected", "pending", "confirmed"]), reviewed,
                mapped)
    assert r["counts"] == {"confirmed": 1, "rejected": 1, "pending": 1}
    assert r["rejected"] == 1 and r["latest"]["new_ha"] == 1.0
