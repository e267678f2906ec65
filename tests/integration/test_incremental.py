"""Scheduled runs at scale: tiles, reuse of earlier runs' periods, and runs killed part way.

Every test runs the real pipeline on the 128 px generated scene (``small_scene``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio

from geomon.pipeline import run_pipeline
from geomon.tiles import tile_grid
from tests.integration.conftest import RUN_OK, read_json

REPO = Path(__file__).resolve().parents[2]


def _files(run: Path) -> dict[str, str]:
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*")) if p.is_file()}


def _same_results(a: Path, b: Path) -> None:
    """Same polygons, areas and per-period rasters in two run folders."""
    da, db = (gpd.read_file(r / "detections.geojson") for r in (a, b))
    assert len(da) == len(db) > 0
    assert list(da["id"]) == list(db["id"])
    assert da.geometry.union_all().symmetric_difference(db.geometry.union_all()).area == 0
    assert list(da["area_ha"]) == list(db["area_ha"])
    assert (a / "areas.csv").read_text() == (b / "areas.csv").read_text()
    for tif in sorted((a / "rasters").glob("*.tif")) + sorted((a / "composites").glob("*.tif")):
        with rasterio.open(tif) as x, rasterio.open(b / tif.relative_to(a)) as y:
            assert np.array_equal(x.read(), y.read()), tif.name


def test_tiled_run_gives_the_same_polygons_and_areas_as_the_whole(scene_pipeline):
    whole = run_pipeline(scene_pipeline("whole"))
    tiled = run_pipeline(scene_pipeline("tiled", compute={"tile_px": 40}))
    assert read_json(whole.run_dir / "manifest.json")["composites"]["tiles"] == 1
    assert read_json(tiled.run_dir / "manifest.json")["composites"]["tiles"] == 16
    _same_results(whole.run_dir, tiled.run_dir)
    # a site across a tile border is one polygon, not two pieces
    with rasterio.open(next((tiled.run_dir / "rasters").glob("state_*.tif"))) as src:
        tiles, t = tile_grid(src.shape, tile_px=40), src.transform
    xs = {t.c + tile.x.stop * t.a for tile in tiles[:-1]}
    ys = {t.f + tile.y.stop * t.e for tile in tiles[:-1]}
    sites = gpd.read_file(tiled.run_dir / "detections.geojson").to_crs(
        read_json(tiled.run_dir / "manifest.json")["aoi"]["crs"])
    assert any(g.bounds[0] < x < g.bounds[2] for g in sites.geometry for x in xs) or \
        any(g.bounds[1] < y < g.bounds[3] for g in sites.geometry for y in ys), \
        "no site crosses the tile border: this scene would prove nothing"


def test_a_second_run_reuses_every_period_and_rerun_computes_them_again(scene_pipeline):
    pipe = scene_pipeline("again")
    first = run_pipeline(pipe)
    second = run_pipeline(pipe)
    m1, m2 = (read_json(r.run_dir / "manifest.json")["composites"]
              for r in (first, second))
    assert m1["computed"] == m1["period_tiles"] == 4 and m1["reused"] == 0
    assert m2["reused"] == 4 and m2["computed"] == 0
    _same_results(first.run_dir, second.run_dir)
    third = run_pipeline(pipe, rerun=True)
    assert read_json(third.run_dir / "manifest.json")["composites"]["computed"] == 4
    _same_results(first.run_dir, third.run_dir)


def test_next_quarter_computes_only_the_new_period(scene_pipeline):
    pipe = scene_pipeline("quarterly", end="2024-09-30")
    run_pipeline(pipe)
    later = run_pipeline(pipe, until=date(2024, 12, 31))
    used = read_json(later.run_dir / "manifest.json")["composites"]
    assert (used["reused"], used["computed"]) == (3, 1)  # 2024Q1 baseline, Q2, Q3 reused
    assert [a.period for a in later.areas] == ["2024Q2", "2024Q3", "2024Q4"]


def test_changing_a_mask_setting_recomputes(scene_pipeline):
    run_pipeline(scene_pipeline("mask-a"))
    other = run_pipeline(scene_pipeline("mask-b", mask={"cloud_buffer_px": 2}))
    assert read_json(other.run_dir / "manifest.json")["composites"]["reused"] == 0


def _geomon(pipe: Path, *, kill_at: str | None = None, extra: tuple[str, ...] = ()
            ) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GEOMON_KILL_AT"}
    if kill_at:
        env["GEOMON_KILL_AT"] = kill_at
    return subprocess.run([sys.executable, "-m", "geomon.cli", "-q", "run", str(pipe), *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(("kill_at", "reused_after"), [
    ("composite:1", 1),  # killed after the first period was stored
    ("composite:3", 3),
    ("outputs", 4),      # everything written, run folder not yet renamed
    ("finished", 4),     # run folder renamed, run index not yet updated
])
def test_a_killed_run_loses_nothing_and_the_next_one_resumes(scene_pipeline, kill_at,
                                                             reused_after):
    pipe = scene_pipeline("killed")
    outputs = pipe.parent / "out" / "killed"
    first = _geomon(pipe)
    assert first.returncode in RUN_OK, first.stderr
    (earlier,) = [p for p in outputs.iterdir() if not p.name.startswith(".")]
    before = _files(earlier)
    cache = pipe.parent / "out" / ".cache" / "composites"
    shutil.rmtree(cache)  # so the killed run has to compute again

    killed = _geomon(pipe, kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _files(earlier) == before, "an earlier run's files changed"
    finished = sorted(p for p in outputs.iterdir() if not p.name.startswith("."))
    if kill_at == "finished":
        assert len(finished) == 2 and (finished[-1] / "manifest.json").exists()
    else:
        assert finished == [earlier], "an unfinished run is visible under a final name"
    entries = list(cache.rglob("meta.json"))
    assert len(entries) == reused_after
    for meta in entries:  # every visible entry is whole
        for npy in meta.parent.glob("*.npy"):
            np.load(npy)
    tile_dirs = [p for p in cache.glob("*/*/*") if p.is_dir() and not p.name.startswith(".")]
    assert all((p / "meta.json").exists() for p in tile_dirs)
    left = list(outputs.glob(".*.partial"))
    assert len(left) == (kill_at != "finished"), "the killed run's work folder should be left"

    resumed = _geomon(pipe)
    assert resumed.returncode in RUN_OK, resumed.stderr
    assert not [p for p in outputs.iterdir() if p.name.startswith(".")], \
        "the next run should remove what the killed run left unfinished"
    newest = sorted(p for p in outputs.iterdir() if not p.name.startswith("."))[-1]
    used = read_json(newest / "manifest.json")["composites"]
    assert (used["reused"], used["computed"]) == (reused_after, 4 - reused_after)
    _same_results(earlier, newest)
