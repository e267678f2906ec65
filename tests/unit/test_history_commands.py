"""``geomon history`` and ``geomon compare`` through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from geomon.errors import GeomonError
from geomon.history import index_path, record_failed, record_finished
from geomon.history_commands import compare_command, history_command
from tests.unit.test_history import _estimate, _site, make_run


@pytest.fixture
def runs(tmp_path):
    a = make_run(tmp_path, "20260101T020000Z-aaaa", sites=[_site("a1", 0, 0, 100, 100)],
                 estimate=_estimate(100, 41234.4))
    b = make_run(tmp_path, "20260401T020000Z-bbbb", ndvi_bare=0.25, degraded=("2024Q3",),
                 sites=[_site("b1", 0, 0, 150, 100), _site("b2", 900, 900, 40, 40)])
    c = make_run(tmp_path, "20260201T020000Z-cccc", pipeline="tor-q", aoi="tor")
    for run in (a, b, c):
        record_finished(tmp_path, run)
    return tmp_path, a, b


def test_history_table(runs):
    root, _, _ = runs
    record_failed(root, pipeline="seg-q", run_id="20260501T020000Z-ffff", aoi="seg",
                  started="2026-05-01T02:00:00+00:00", error="GeomonError: no imagery")
    res = CliRunner().invoke(history_command, ["--outputs", str(root)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split()[:3] == ["started", "(UTC)", "pipeline"]
    body = [ln for ln in lines[2:] if ln.startswith("2026-")]
    assert [ln.split()[3] for ln in body] == ["20260501T020000Z-ffff", "20260401T020000Z-bbbb",
                                              "20260201T020000Z-cccc", "20260101T020000Z-aaaa"]
    assert "failed" in body[0] and "partial" in body[1] and "success" in body[3]
    assert "41,234 (2024)" in body[3]          # P50 of the latest year
    assert "2024Q2–2024Q4" in body[3]
    assert "failed seg-q/20260501T020000Z-ffff: GeomonError: no imagery" in res.output


def test_history_filters_and_json(runs):
    root, _, _ = runs
    res = CliRunner().invoke(history_command, ["--outputs", str(root), "--aoi", "seg", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert [r["run_id"] for r in doc] == ["20260401T020000Z-bbbb", "20260101T020000Z-aaaa"]
    assert doc[0]["status"] == "partial" and doc[0]["n_sites"] == 2
    res = CliRunner().invoke(history_command, ["--outputs", str(root), "--pipeline", "tor-q"])
    assert "20260201T020000Z-cccc" in res.output and "aaaa" not in res.output


def test_history_builds_a_missing_index_from_folders(runs):
    root, _, _ = runs
    for suffix in ("", "-wal", "-shm"):
        (root / (index_path(root).name + suffix)).unlink(missing_ok=True)
    res = CliRunner().invoke(history_command, ["--outputs", str(root), "--json"])
    assert res.exit_code == 0, res.output
    assert "indexed 3 run folders" in res.stderr
    assert len(json.loads(res.stdout)) == 3


def test_history_of_an_empty_outputs_folder(tmp_path):
    res = CliRunner().invoke(history_command, ["--outputs", str(tmp_path / "none")])
    assert res.exit_code == 0 and "no runs recorded" in res.output


def test_compare_text_and_json(runs):
    _, a, b = runs
    res = CliRunner().invoke(compare_command, [str(a), str(b)])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "detection.ndvi_bare" in out and "0.3" in out and "0.25" in out
    assert "+ b2" in out and "~ a1 → b1  1.00 → 1.50 ha (+0.50)" in out
    assert "Estimate: only in A" in out

    res = CliRunner().invoke(compare_command, [str(a), str(b), "--json"])
    doc = json.loads(res.output)
    assert doc["sites"]["added"][0]["id"] == "b2"
    assert doc["parameters"] == [{"key": "detection.ndvi_bare", "a": 0.3, "b": 0.25}]


def test_compare_bad_folder_names_it(runs, tmp_path):
    _, a, _ = runs
    res = CliRunner().invoke(compare_command, [str(a), str(tmp_path / "seg-q")])
    assert isinstance(res.exception, GeomonError)
    assert str(tmp_path / "seg-q") in str(res.exception)
    assert "not a finished run" in str(res.exception)
