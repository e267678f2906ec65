"""``benchmarks/pipeline.py`` end to end on the smallest scene it can generate.

Speed itself is not asserted here (targets live in the benchmark's output, not in timed tests);
this keeps the benchmark working as the pipeline and its report change under it, and checks that
both sides of each pair measure the same grid and dates.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def test_benchmark_measures_floor_and_full_run_of_the_same_grid(tmp_path):
    out = tmp_path / "rows.json"
    res = subprocess.run(
        [sys.executable, "benchmarks/pipeline.py", "--sizes", "64", "--spans", "6m",
         "--cache", str(tmp_path / "bench"), "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]

    (row,) = json.loads(out.read_text())
    floor, full = row["floor"], row["full"]
    assert (row["size"], row["span"]) == (64, "6m")
    # both sides read the same acquisitions onto the same grid
    assert floor["dates"] == full["dates"] > 0
    assert (floor["height"], floor["width"]) == (full["height"], full["width"])
    assert row["pixel_dates"] == full["dates"] * full["height"] * full["width"]
    assert row["ratio"] == pytest.approx(full["seconds"] / floor["seconds"])
    # the full run went through dask and the report (whose timing hooks still fit its API)
    assert 0 < full["dask_seconds"] < full["seconds"]
    assert 0 < full["report_seconds"] < full["seconds"]
    assert floor["report_seconds"] == 0
    for m in (floor, full):
        assert m["cpu_seconds"] > 0
        assert m["peak_rss_mb"] > m["start_rss_mb"] > 0

    # the table row and each pair's figures, as printed
    table = res.stdout.splitlines()
    assert table[0].split()[:2] == ["size", "px"]
    assert table[1].split()[:3] == ["64", "6m", str(full["dates"])]
    assert f"{full['seconds']:.1f} s = {row['ratio']:.2f}" in res.stderr
