"""Review end to end on a real run of the pipeline: export → decisions edited in the GeoPackage
→ import → the store holds them → a re-run's sites carry them; field-visit list for GPS."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from click.testing import CliRunner
from shapely.geometry import Point, mapping

from geomon.errors import GeomonError
from geomon.review import ReviewStore, apply_reviews, training_labels
from geomon.review.commands import review
from tests.helpers import write_aoi, write_pipeline

pytestmark = pytest.mark.integration


def review_run(tmp_path_factory, small_scene) -> Path:
    """One pipeline run over ``small_scene``, shared by the review integration tests."""
    base = tmp_path_factory.getbasetemp() / "review-run"
    marker = base / "run_dir.txt"
    if marker.exists():
        return Path(marker.read_text())
    from geomon.pipeline import run_pipeline
    from geomon.sample import scene_footprint

    footprint = scene_footprint(small_scene.scenario, small_scene.size).buffer(-0.0002)
    write_aoi(base / "aoi", "scene", geometry=mapping(footprint))
    pipe = write_pipeline(base, "scene", aoi="scene", aoi_dir="aoi",
                          source={"kind": "stac", "catalog": str(small_scene.catalog),
                                  "max_cloud_cover": 100},
                          estimate={"enabled": False})
    result = run_pipeline(pipe)
    marker.write_text(str(result.run_dir))
    return result.run_dir


@pytest.fixture
def run_dir(tmp_path_factory, small_scene):
    return review_run(tmp_path_factory, small_scene)


def invoke(*args):
    result = CliRunner().invoke(review, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


def test_export_edit_import_rerun(run_dir, tmp_path):
    store, pkg = tmp_path / "review.sqlite", tmp_path / "pkg"
    out = invoke("export", run_dir, "--out", pkg, "--store", store)
    assert str(pkg) in out
    sites = pyogrio.read_dataframe(pkg / "sites.gpkg", layer="sites")
    detections = json.loads((run_dir / "detections.geojson").read_text())["features"]
    assert list(sites["id"]) == [f["properties"]["id"] for f in detections]
    assert len(sites) >= 2, "the scene should give at least two sites"
    assert set(sites["review_status"]) == {"pending"}
    keys = dict(zip(sites["id"], sites["site_key"], strict=True))
    ids = list(keys)

    # a reviewer edits the GeoPackage (as in QGIS) and it is imported
    sites.loc[0, ["review_status", "reviewer", "note"]] = ["confirmed", "alice", "fresh pits"]
    sites.loc[1, ["review_status", "reviewer", "note"]] = ["rejected", "bob", "a maize field"]
    pyogrio.write_dataframe(sites, pkg / "sites.gpkg", layer="sites")
    out = invoke("import", pkg / "sites.gpkg", "--store", store)
    assert "2 decisions recorded" in out

    st = ReviewStore(store)
    states = st.states(keys.values())
    assert [states[keys[i]].status for i in ids[:2]] == ["confirmed", "rejected"]
    assert states[keys[ids[1]]].note == "a maize field"
    assert all(states[keys[i]].status == "pending" for i in ids[2:])

    # a re-run whose polygons came out 10 m off and one of them 10 m larger
    aoi_crs = st.aoi_crs("scene")
    rerun = gpd.read_file(run_dir / "detections.geojson").to_crs(aoi_crs)
    rerun["geometry"] = rerun.geometry.translate(10, -10)
    rerun.loc[0, "geometry"] = rerun.geometry[0].buffer(10, join_style="mitre")
    reviewed = apply_reviews(rerun, aoi_id="scene", store=store)
    assert list(reviewed["site_key"]) == [keys[i] for i in ids]
    assert list(reviewed["review_status"][:2]) == ["confirmed", "rejected"]
    assert list(reviewed["reviewer"][:2]) == ["alice", "bob"]
    # the pipeline leaves rejected sites out of the estimate
    kept = reviewed[reviewed["review_status"] != "rejected"]
    assert ids[1] not in set(kept["id"]) and len(kept) == len(reviewed) - 1

    labels = training_labels(store, "scene")
    assert dict(zip(labels["site_key"], labels["label"], strict=True)) == {
        keys[ids[0]]: 1, keys[ids[1]]: 0}

    # a package of the same run, exported again, shows the decisions
    invoke("export", run_dir, "--out", pkg, "--store", store)
    again = pyogrio.read_dataframe(pkg / "sites.gpkg", layer="sites")
    assert list(again["review_status"][:2]) == ["confirmed", "rejected"]
    assert "a maize field" in (pkg / "index.html").read_text()


def test_field_list_opens_in_gdal_gpx_driver(run_dir, tmp_path):
    store, pkg = tmp_path / "review.sqlite", tmp_path / "pkg"
    invoke("export", run_dir, "--out", pkg, "--store", store)
    sites = pyogrio.read_dataframe(pkg / "sites.gpkg", layer="sites")
    sites.loc[0, ["review_status", "reviewer"]] = ["confirmed", "alice"]
    sites.loc[1, ["review_status", "reviewer"]] = ["needs_field_visit", "alice"]
    pyogrio.write_dataframe(sites, pkg / "sites.gpkg", layer="sites")
    invoke("import", pkg / "sites.gpkg", "--store", store)

    out = invoke("fieldlist", "--run", run_dir, "--out", tmp_path / "visit", "--store", store)
    gpx = tmp_path / "visit" / "fieldlist.gpx"
    with (tmp_path / "visit" / "fieldlist.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert f"{len(rows)} sites to visit" in out
    expected = set(sites["id"]) - {sites["id"][0]}  # everything but the confirmed site
    assert {r["id"] for r in rows} == expected
    priorities = [float(r["priority"]) for r in rows]
    assert priorities == sorted(priorities, reverse=True)
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    visit = next(r for r in rows if r["id"] == sites["id"][1])
    assert visit["review_status"] == "needs_field_visit" and "alice" in visit["reason"]

    info = pyogrio.read_info(gpx, layer="waypoints")
    assert info["crs"] == "EPSG:4326"
    wpts = pyogrio.read_dataframe(gpx, layer="waypoints")
    assert list(wpts["name"]) == [r["id"] for r in rows]
    assert all(" ha, " in d for d in wpts["desc"])
    # each waypoint lies inside its site
    by_id = sites.set_index("id").geometry
    for name, pt in zip(wpts["name"], wpts.geometry, strict=True):
        assert by_id[name].contains(Point(pt.x, pt.y)), name

    fewer = invoke("fieldlist", "--run", run_dir, "--out", tmp_path / "v2", "--store", store,
                   "--pending", "0")
    assert fewer.startswith("1 sites to visit")


def test_bad_import_changes_nothing(run_dir, tmp_path):
    store, pkg = tmp_path / "review.sqlite", tmp_path / "pkg"
    invoke("export", run_dir, "--out", pkg, "--store", store)
    sites = pyogrio.read_dataframe(pkg / "sites.gpkg", layer="sites")
    sites.loc[0, ["review_status", "reviewer"]] = ["confirmed", "alice"]
    sites.loc[1, ["review_status", "reviewer"]] = ["dubious", "alice"]
    pyogrio.write_dataframe(sites, pkg / "sites.gpkg", layer="sites")
    with pytest.raises(GeomonError) as err:
        invoke("import", pkg / "sites.gpkg", "--store", store)
    text = str(err.value)
    assert str(pkg / "sites.gpkg") in text and "sites[1].review_status" in text
    assert "'dubious'" in text and "confirmed" in text  # what was expected
    assert ReviewStore(store).count_decisions() == 0


def test_rejected_sites_leave_the_estimate_areas(run_dir, tmp_path):
    """The recipe in docs/review.md: zero the rejected sites' pixels, compute the areas again."""
    from datetime import date

    import numpy as np
    import rasterio

    from geomon.review import rejected_mask
    from geomon.vectorize import vectorize

    manifest = json.loads((run_dir / "manifest.json").read_text())
    assessed = [p for p in manifest["periods"]
                if (run_dir / "rasters" / f"state_{p['period']}.tif").exists()]
    state, conf = [], []
    for p in assessed:
        with rasterio.open(run_dir / "rasters" / f"state_{p['period']}.tif") as src:
            state.append(src.read(1))
            transform, crs = src.transform, src.crs.to_string()
        with rasterio.open(run_dir / "rasters" / f"confounder_{p['period']}.tif") as src:
            conf.append(src.read(1))
    state, conf = np.stack(state), np.stack(conf)
    periods = [(p["period"], date.fromisoformat(p["start"]), date.fromisoformat(p["end"]))
               for p in assessed]
    mmu = manifest["parameters"]["detection"]["min_mapping_unit_ha"]

    def areas_and_sites(st):
        out = vectorize(st, conf, np.zeros(st.shape, "float32"), transform=transform, crs=crs,
                        periods=periods, aoi_id="scene", min_mapping_unit_ha=mmu)
        return out.areas, out.mining

    mapped_areas, mapped = areas_and_sites(state)
    store = tmp_path / "review.sqlite"
    first = apply_reviews(mapped, aoi_id="scene", store=store, run_id="r")
    from geomon.review import Decision
    from geomon.review._decisions import utc_now

    ReviewStore(store).record([Decision(first["site_key"][1], "rejected", "bob", "", utc_now())],
                              source="test")
    reviewed = apply_reviews(mapped, aoi_id="scene", store=store, run_id="r")
    mask = rejected_mask(reviewed, transform=transform, shape=state.shape[1:])
    assert mask.sum() * 0.01 == pytest.approx(float(mapped["area_ha"][1]))
    kept_areas, kept = areas_and_sites(np.where(mask, 0, state))
    # the other sites are untouched; the areas lose exactly the rejected site's ground
    assert sorted(g.wkb for g in kept.geometry) == sorted(
        g.wkb for i, g in enumerate(mapped.geometry) if i != 1)
    # ... and per period, mapped = kept + the rejected site on its own
    alone_areas, _ = areas_and_sites(np.where(mask, state, 0))
    for m, k, r in zip(mapped_areas, kept_areas, alone_areas, strict=True):
        assert m.new_ha == pytest.approx(k.new_ha + r.new_ha)
        assert m.active_ha == pytest.approx(k.active_ha + r.active_ha)
    assert sum(r.active_ha for r in alone_areas) > 0
