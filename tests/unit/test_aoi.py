from __future__ import annotations

import pytest

from geomon.aoi import list_aois, load_aoi, read_aoi_file, utm_epsg_for
from geomon.errors import GeomonError
from tests.helpers import write_aoi


def test_valid_aoi_on_its_utm_zone(tmp_path):
    aoi = read_aoi_file(write_aoi(tmp_path))
    assert aoi.utm_epsg == 32629
    # 0.04° x 0.04° at 8° N is about 4.4 km x 4.4 km
    assert 18 < aoi.area_km2 < 21


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"),
    [(-6.7, 8.0, 32629), (-5.7, 8.8, 32630), (32.3, -19.9, 32736), (-11.0, 8.6, 32629)],
)
def test_utm_zones_of_the_design_notes(lon, lat, epsg):
    assert utm_epsg_for(lon, lat) == epsg


@pytest.mark.parametrize(
    ("geometry", "words"),
    [
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
         "Self-intersection"),
        ({"type": "Polygon", "coordinates": []}, "empty"),
        ({"type": "Point", "coordinates": [-6.7, 8.0]}, "Polygon or MultiPolygon"),
        ({"type": "Polygon", "coordinates": [[[500000, 880000], [501000, 880000],
                                              [501000, 881000], [500000, 880000]]]},
         "longitude/latitude"),
    ],
)
def test_bad_geometry_is_named(tmp_path, geometry, words):
    path = write_aoi(tmp_path, geometry=geometry)
    with pytest.raises(GeomonError) as err:
        read_aoi_file(path)
    assert str(path) in str(err.value)
    assert words in str(err.value)


def test_missing_property_and_bad_country(tmp_path):
    with pytest.raises(GeomonError, match=r"properties\.country.*ISO 3166"):
        read_aoi_file(write_aoi(tmp_path, country="Ivory Coast"))
    with pytest.raises(GeomonError, match=r"properties\.id"):
        read_aoi_file(write_aoi(tmp_path, "other", id="test"))


def test_area_limit(tmp_path):
    path = write_aoi(tmp_path)
    with pytest.raises(GeomonError, match=r"more than the limit of 10 km²"):
        read_aoi_file(path, max_area_km2=10)


def test_unknown_id_lists_known(tmp_path):
    write_aoi(tmp_path, "alpha")
    with pytest.raises(GeomonError, match=r"unknown AOI id 'beta'.*alpha"):
        load_aoi("beta", directory=tmp_path)


def test_committed_aoi_files_are_valid():
    paths = list_aois()
    assert {p.stem for p in paths} >= {"seguela", "tortiya", "marange", "akwatia", "kono", "sample"}
    for p in paths:
        aoi = read_aoi_file(p)
        assert aoi.notes, f"{p} should say where its outline came from"
