"""The run index (runs.sqlite), its rebuild from run folders, and run comparison."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import box, mapping

from geomon.errors import GeomonError
from geomon.history import (
    SCHEMA_VERSION,
    compare_runs,
    index_from_folders,
    index_path,
    list_runs,
    record_failed,
    record_finished,
    record_run,
    run_figures,
)

UTM = "EPSG:32629"
_TO_LONLAT = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
X0, Y0 = 800_000.0, 885_000.0  # metres, near Séguéla


def _lonlat(xy: np.ndarray) -> np.ndarray:
    return np.column_stack(_TO_LONLAT.transform(xy[:, 0], xy[:, 1]))


def _site(sid: str, x: float, y: float, w: float, h: float, status: str = "active") -> dict:
    """A rectangular site ``w`` × ``h`` m at offset (x, y) from the origin; area_ha from UTM."""
    utm = box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h)
    return {"type": "Feature", "id": sid,
            "properties": {"id": sid, "aoi": "seg", "class": "mining", "first_seen": "2024-04-01",
                           "last_seen": "2024-10-01", "status": status,
                           "area_ha": round(utm.area / 1e4, 2), "confidence": 0.9,
                           "periods": ["2024-04-01"]},
            "geometry": mapping(shapely.transform(utm, _lonlat))}


AREAS = [("2024Q2", "2024-04-01", "2024-06-30", 1.0, 1.0, 1.0),
         ("2024Q3", "2024-07-01", "2024-09-30", 0.5, 1.2, 1.5),
         ("2024Q4", "2024-10-01", "2024-12-31", 2.0, 2.5, 3.5)]


def make_run(root: Path, run_id: str, *, pipeline: str = "seg-q", aoi: str = "seg",
             sites: list[dict] | None = None, areas=AREAS, ndvi_bare: float = 0.3,
             degraded: tuple[str, ...] = (), estimate: dict | None = None,
             started: str | None = None) -> Path:
    """A finished run folder with the files history reads (no imagery needed)."""
    run = root / pipeline / run_id
    run.mkdir(parents=True)
    quarters = [("2024Q1", "2024-01-01"), *[(a[0], a[1]) for a in areas]]
    manifest = {
        "run_id": run_id, "pipeline": pipeline, "pipeline_sha256": "abc",
        "parameters": {"name": pipeline, "aoi": aoi, "start": "2024-04-01", "end": "2024-12-31",
                       "detection": {"method": "rules", "ndvi_bare": ndvi_bare}},
        "aoi": {"id": aoi, "crs": UTM},
        "software": {"geomon": "0.1.0"},
        "periods": [{"period": q, "start": s, "degraded": q in degraded,
                     "items": [{"id": f"S2_{q}_{k}"} for k in range(3)]} for q, s in quarters],
        "started": started or f"2026-{run_id[4:6]}-01T02:00:00+00:00",
        "finished": f"2026-{run_id[4:6]}-01T02:10:00+00:00",
    }
    (run / "manifest.json").write_text(json.dumps(manifest))
    lines = ["period,start,end,new_ha,active_ha,cumulative_ha"]
    lines += [",".join(f"{v:.2f}" if isinstance(v, float) else v for v in a) for a in areas]
    (run / "areas.csv").write_text("\n".join(lines) + "\n")
    (run / "detections.geojson").write_text(json.dumps(
        {"type": "FeatureCollection", "features": sites or []}))
    if estimate is not None:
        (run / "estimate.json").write_text(json.dumps(estimate))
    return run


def _estimate(q4: float, year: float) -> dict:
    return {"periods": [{"period": "2024Q4", "method": "volumetric", "p50": q4}],
            "years": [{"year": 2024, "method": "volumetric", "p50": year}]}


# -- the index ----------------------------------------------------------------------------------

def test_record_and_list(tmp_path):
    a = make_run(tmp_path, "20260101T020000Z-aaaa", sites=[_site("s1", 0, 0, 100, 100)],
                 estimate=_estimate(100.0, 400.0))
    b = make_run(tmp_path, "20260401T020000Z-bbbb", degraded=("2024Q3",))
    c = make_run(tmp_path, "20260201T020000Z-cccc", pipeline="tor-q", aoi="tor")
    for run in (a, b, c):
        assert record_finished(tmp_path, run) is not None

    runs = list_runs(tmp_path)
    assert [r.run_id for r in runs] == ["20260401T020000Z-bbbb", "20260201T020000Z-cccc",
                                        "20260101T020000Z-aaaa"]
    first = runs[-1]
    assert first.status == "success" and runs[0].status == "partial"
    assert first.periods == ("2024Q2", "2024Q3", "2024Q4")
    assert (first.period_start, first.period_end) == ("2024-04-01", "2024-12-31")
    assert first.n_sites == 1 and first.new_ha == pytest.approx(3.5)
    assert first.figures["estimate_p50_year"] == {"volumetric": {"2024": 400.0}}
    assert first.figures["new_ha"] == {"2024Q2": 1.0, "2024Q3": 0.5, "2024Q4": 2.0}
    assert Path(first.run_dir) == a.resolve()

    assert [r.run_id for r in list_runs(tmp_path, aoi="tor")] == ["20260201T020000Z-cccc"]
    assert len(list_runs(tmp_path, pipeline="seg-q")) == 2
    assert len(list_runs(tmp_path, limit=1)) == 1
    assert [r.status for r in list_runs(tmp_path, status="partial")] == ["partial"]

    # recording the same run again replaces its row, never duplicates it
    record_finished(tmp_path, a, status="partial")
    assert len(list_runs(tmp_path)) == 3
    assert list_runs(tmp_path, status="partial")[-1].run_id == "20260101T020000Z-aaaa"

    with sqlite3.connect(index_path(tmp_path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_degraded_baseline_does_not_make_a_run_partial(tmp_path):
    run = make_run(tmp_path, "20260101T020000Z-aaaa", degraded=("2024Q1",))
    assert record_finished(tmp_path, run).status == "success"
    assert run_figures(run)["degraded_periods"] == []


def test_failed_run_is_listed_with_its_error_redacted(tmp_path, monkeypatch):
    monkeypatch.setenv("SH_CLIENT_SECRET", "s3cr3t-value-xyz")
    rec = record_failed(tmp_path, pipeline="seg-q", run_id="20260101T020000Z-ffff", aoi="seg",
                        started="2026-01-01T02:00:00+00:00",
                        error=RuntimeError("token endpoint refused client_secret=s3cr3t-value-xyz"))
    assert rec is not None and rec.status == "failed"
    (listed,) = list_runs(tmp_path)
    assert listed.status == "failed" and "RuntimeError" in listed.figures["error"]
    assert "s3cr3t" not in index_path(tmp_path).read_bytes().decode("utf-8", "replace")
    assert "s3cr3t" not in json.dumps(listed.to_dict())


def test_bad_status_is_refused(tmp_path):
    with pytest.raises(ValueError, match="status"):
        record_run(tmp_path, tmp_path / "x", {"run_id": "x"}, status="ok", figures={})


def test_crash_inside_the_write_leaves_no_half_row(tmp_path):
    """A process killed between INSERT and COMMIT leaves the index as it was, and usable."""
    kept = make_run(tmp_path, "20260101T020000Z-aaaa")
    record_finished(tmp_path, kept)
    crashing = make_run(tmp_path, "20260201T020000Z-bbbb")
    script = textwrap.dedent(f"""
        import os, contextlib
        import geomon.history as h

        real = h._connect

        class Dying:
            def __init__(self, conn):
                self.conn = conn
            def execute(self, sql, *args):
                if sql == "COMMIT" and self.inserted:
                    os._exit(9)          # killed after the INSERT, before the COMMIT
                self.inserted = getattr(self, "inserted", False) or sql.startswith("INSERT")
                return self.conn.execute(sql, *args)
            inserted = False

        @contextlib.contextmanager
        def dying(root):
            with real(root) as conn:
                yield Dying(conn)

        h._connect = dying
        h.record_run({str(tmp_path)!r}, {str(crashing)!r}, {{"run_id": "bbbb", "pipeline": "p"}},
                     status="success", figures={{"n_sites": 1}})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    assert [r.run_id for r in list_runs(tmp_path)] == ["20260101T020000Z-aaaa"]
    record_finished(tmp_path, crashing)
    assert len(list_runs(tmp_path)) == 2


def test_newer_schema_and_corrupt_index_are_refused_by_name(tmp_path):
    with sqlite3.connect(index_path(tmp_path)) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(GeomonError, match="newer") as err:
        list_runs(tmp_path)
    assert str(index_path(tmp_path)) in str(err.value)

    other = tmp_path / "other"
    other.mkdir()
    index_path(other).write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(GeomonError, match="rebuild") as err:
        list_runs(other)
    assert str(index_path(other)) in str(err.value)


def test_index_rebuilt_from_folders(tmp_path):
    a = make_run(tmp_path, "20260101T020000Z-aaaa", sites=[_site("s1", 0, 0, 100, 100)])
    b = make_run(tmp_path, "20260401T020000Z-bbbb", degraded=("2024Q4",))
    record_finished(tmp_path, a)
    record_finished(tmp_path, b)
    record_failed(tmp_path, pipeline="seg-q", run_id="20260301T020000Z-ffff", aoi="seg",
                  started=None, error="boom")
    before = {r.run_id: r.to_dict() for r in list_runs(tmp_path)}

    # a run still being written, and a folder that is no run, are not indexed
    (tmp_path / "seg-q" / ".20260501T020000Z-pppp.partial").mkdir()
    (tmp_path / "seg-q" / ".20260501T020000Z-pppp.partial" / "manifest.json").write_text("{}")
    (tmp_path / "seg-q" / "notes").mkdir()

    for suffix in ("", "-wal", "-shm"):
        Path(str(index_path(tmp_path)) + suffix).unlink(missing_ok=True)
    summary = index_from_folders(tmp_path)
    assert summary.recorded == 2 and summary.removed == 0
    after = {r.run_id: r.to_dict() for r in list_runs(tmp_path)}
    assert after == {k: v for k, v in before.items() if v["status"] != "failed"}

    # the folders are the source of truth: a deleted run disappears; failed runs stay
    record_failed(tmp_path, pipeline="seg-q", run_id="20260301T020000Z-ffff", aoi="seg",
                  started=None, error="boom")
    import shutil

    shutil.rmtree(b)
    summary = index_from_folders(tmp_path)
    assert summary.removed == 1
    assert {r.run_id: r.status for r in list_runs(tmp_path)} == {
        "20260101T020000Z-aaaa": "success", "20260301T020000Z-ffff": "failed"}


# -- comparing runs ----------------------------------------------------------------------------

def test_compare_runs(tmp_path):
    a = make_run(tmp_path, "20260101T020000Z-aaaa", ndvi_bare=0.3, estimate=_estimate(100, 400),
                 sites=[_site("a1", 0, 0, 100, 100),          # grows
                        _site("a2", 500, 0, 50, 50),          # unchanged
                        _site("a3", 1000, 0, 40, 40),         # gone
                        _site("a4", 0, 500, 60, 60, "active")])  # revegetating now
    b = make_run(tmp_path, "20260401T020000Z-bbbb", ndvi_bare=0.25, estimate=_estimate(150, 380),
                 areas=[*AREAS[:2], ("2024Q4", "2024-10-01", "2024-12-31", 2.6, 2.5, 4.1)],
                 sites=[_site("b1", 0, 0, 150, 100),
                        _site("b2", 500, 0, 50, 50),
                        _site("b3", 2000, 2000, 30, 30),     # new, far from everything
                        _site("b4", 0, 500, 60, 60, "revegetating")])
    c = compare_runs(a, b)
    assert c["a"]["run_id"] == "20260101T020000Z-aaaa" and c["same_aoi"]
    assert c["parameters"] == [{"key": "detection.ndvi_bare", "a": 0.3, "b": 0.25}]
    assert not c["pipeline_file_changed"] and c["software"] == []
    q4 = next(r for r in c["areas"] if r["period"] == "2024Q4")
    assert q4["new_ha_delta"] == pytest.approx(0.6) and q4["active_ha_delta"] == 0
    assert next(r for r in c["areas"] if r["period"] == "2024Q2")["new_ha_delta"] == 0

    s = c["sites"]
    assert [x["id"] for x in s["added"]] == ["b3"]
    assert [x["id"] for x in s["removed"]] == ["a3"]
    changed = {x["a_id"]: x for x in s["changed"]}
    assert set(changed) == {"a1", "a4"}
    assert changed["a1"]["b_id"] == "b1" and changed["a1"]["delta_ha"] == pytest.approx(0.5)
    assert changed["a1"]["overlap_ha"] == pytest.approx(1.0, abs=0.01)
    assert (changed["a4"]["a_status"], changed["a4"]["b_status"]) == ("active", "revegetating")
    assert s["unchanged"] == 1 and s["merged"] == [] and s["split"] == []

    est = c["estimate"]
    assert est["available"] == "both"
    assert est["periods"] == [{"period": "2024Q4", "method": "volumetric", "p50_a": 100,
                               "p50_b": 150, "delta": 50}]
    assert est["years"][0]["delta"] == -20
    json.dumps(c)  # JSON-ready


def test_compare_merged_sites(tmp_path):
    a = make_run(tmp_path, "20260101T020000Z-aaaa",
                 sites=[_site("a1", 0, 0, 100, 100), _site("a2", 100, 0, 30, 100)])
    b = make_run(tmp_path, "20260401T020000Z-bbbb", sites=[_site("b1", 0, 0, 130, 100)])
    s = compare_runs(a, b)["sites"]
    assert [x["a_id"] for x in s["changed"]] == ["a1"]
    assert [x["id"] for x in s["merged"]] == ["a2"]
    assert s["added"] == [] and s["removed"] == []


@pytest.mark.parametrize("kind", ["missing", "file", "partial", "no-manifest", "bad-json"])
def test_compare_refuses_what_is_not_a_finished_run(tmp_path, kind):
    good = make_run(tmp_path, "20260101T020000Z-aaaa")
    bad = {"missing": tmp_path / "nope",
           "file": good / "areas.csv",
           "partial": tmp_path / "seg-q" / ".20260102T020000Z-bbbb.partial",
           "no-manifest": tmp_path / "seg-q",
           "bad-json": make_run(tmp_path, "20260103T020000Z-cccc")}[kind]
    if kind == "partial":
        bad.mkdir()
    if kind == "bad-json":
        (bad / "manifest.json").write_text("{not json")
    with pytest.raises(GeomonError) as err:
        compare_runs(good, bad)
    assert str(bad) in str(err.value)
