"""A reviewer's rejection reaches the next run: kept in detections, left out of the estimate."""

from __future__ import annotations

import json

import pyogrio
import pytest

from geomon.review import export_package, import_decisions
from tests.integration.conftest import RUN_OK

pytestmark = pytest.mark.integration

FIXED = {name: {"dist": "fixed", "value": value, "source": "test"} for name, value in {
    "excavation_depth_m": 2.0, "gravel_fraction": 0.5, "grade_ct_per_m3": 1.0, "recovery": 0.5,
    "diggers_per_ha": 20, "days_worked_per_year": 200, "gravel_m3_per_digger_day": 0.2,
}.items()}


def _latest(out_root, name="scene"):
    return sorted((out_root / name).iterdir())[-1]


def _volumetric_area(run):
    doc = json.loads((run / "estimate.json").read_text())
    return sum(r["area_ha"] for r in doc["periods"] if r["method"] == "volumetric")


def test_rejected_site_is_kept_but_not_estimated(cli, scene_pipeline, tmp_path):
    path = scene_pipeline(estimate={"draws": 200, "parameters": FIXED})
    assert cli("run", path)[0] in RUN_OK
    first = _latest(tmp_path / "out")
    sites = json.loads((first / "detections.geojson").read_text())["features"]
    assert sites, "the scene has digging"
    target = max(sites, key=lambda f: f["properties"]["area_ha"])["properties"]
    mapped_new = sum(float(r.split(",")[3]) for r in
                     (first / "areas.csv").read_text().splitlines()[1:])
    assert _volumetric_area(first) == pytest.approx(mapped_new, abs=0.02)

    pkg = export_package(first, store=tmp_path / "out" / "review.sqlite")
    gpkg = pkg.root / "sites.gpkg"
    layer = pyogrio.list_layers(gpkg)[0][0]
    df = pyogrio.read_dataframe(gpkg, layer=layer)
    df.loc[df["id"] == target["id"], ["review_status", "reviewer"]] = ["rejected", "erin"]
    pyogrio.write_dataframe(df, gpkg, layer=layer)
    assert import_decisions(gpkg, store=tmp_path / "out" / "review.sqlite").recorded == 1

    assert cli("run", path)[0] in RUN_OK
    second = _latest(tmp_path / "out")
    assert second != first
    again = {f["properties"]["id"]: f["properties"] for f in
             json.loads((second / "detections.geojson").read_text())["features"]}
    statuses = {p["review_status"] for p in again.values()}
    assert "rejected" in statuses  # the site is still mapped, with the decision on it
    rejected = [p for p in again.values() if p["review_status"] == "rejected"]
    # the map is unchanged; only the estimate leaves the rejected site's new ground out
    assert (second / "areas.csv").read_text() == (first / "areas.csv").read_text()
    left_out = _volumetric_area(first) - _volumetric_area(second)
    assert 0 < left_out <= rejected[0]["area_ha"] + 1e-6
