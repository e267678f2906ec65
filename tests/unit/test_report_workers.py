"""Map files drawn in worker processes: same files as drawn in the caller, each map drawn once,
jobs handed to workers started before them, previews, a failing worker named in the error, no
worker left behind by a killed run."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from geomon.report import _workers
from geomon.report._workers import FigureWriter, draw_queued, worker_count
from geomon.report.maps import MapLayers, attribution_for, make_backdrop
from tests.unit.test_report_maps import CRS, TRANSFORM, _aoi, _lookalikes, _rgb, _sites


def _layers() -> MapLayers:
    return MapLayers(sites=_sites(), aoi=_aoi(), lookalikes=_lookalikes())


def _queue(writer: FigureWriter, out, labels) -> None:
    for label in labels:
        writer.period_map(out / label, make_backdrop(_rgb(), TRANSFORM, CRS, label), _layers(),
                          title=f"Test area: digging in {label}",
                          attribution=attribution_for([2024]))


def _pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.mark.parametrize(("n_maps", "cpus", "workers"),
                         [(6, 1, 0), (6, 2, 1), (6, 8, 3), (1, 8, 1), (0, 8, 0)])
def test_workers_leave_a_core_to_the_caller(n_maps, cpus, workers):
    assert worker_count(n_maps, cpus) == workers


def test_workers_write_the_maps_the_caller_would(tmp_path, monkeypatch):
    labels = ["2024Q2", "2024Q3", "2024Q4"]
    monkeypatch.setattr(_workers, "worker_count", lambda n, cpus=None: 2)
    pooled = FigureWriter(scratch=tmp_path / "scratch")
    _queue(pooled, tmp_path / "pooled", labels)
    pooled.start()
    assert len(pooled._procs) == 2  # really in other processes
    pooled.wait()

    monkeypatch.setattr(_workers, "worker_count", lambda n, cpus=None: 0)
    inline = FigureWriter(scratch=tmp_path / "unused")
    _queue(inline, tmp_path / "inline", labels)
    inline.start()
    inline.wait()

    for label in labels:
        for ext in ("png", "pdf"):
            assert (tmp_path / "pooled" / f"{label}.{ext}").stat().st_size > 1000
        np.testing.assert_array_equal(_pixels(tmp_path / "pooled" / f"{label}.png"),
                                      _pixels(tmp_path / "inline" / f"{label}.png"))
    assert not (tmp_path / "unused").exists()
    # every job was claimed, by a worker or by the caller (O_EXCL makes the claim unique)
    assert sorted(p.stem for p in (tmp_path / "scratch").glob("*.claim")) == \
        sorted(p.stem for p in (tmp_path / "scratch").glob("*.job"))


def test_a_claimed_job_is_not_drawn_again(tmp_path, monkeypatch):
    monkeypatch.setattr(_workers, "worker_count", lambda n, cpus=None: 1)
    writer = FigureWriter(scratch=tmp_path / "scratch")
    _queue(writer, tmp_path / "maps", ["2024Q4"])
    (tmp_path / "scratch").mkdir()
    # claim the only job before the worker starts: nobody may draw it
    (tmp_path / "scratch" / "0000.claim").touch()
    writer.start()
    writer.wait()
    draw_queued(tmp_path / "scratch")
    assert not (tmp_path / "maps").exists()


def test_a_failing_worker_raises_with_its_last_words(tmp_path, monkeypatch):
    monkeypatch.setattr(_workers, "worker_count", lambda n, cpus=None: 1)
    monkeypatch.setattr(_workers, "draw_queued", lambda *a: 0)  # the worker draws it
    blocked = tmp_path / "maps"
    blocked.write_text("a file where the maps folder should be")
    writer = FigureWriter(scratch=tmp_path / "scratch")
    _queue(writer, blocked, ["2024Q4"])
    writer.start()
    with pytest.raises(RuntimeError,
                       match=r"figure worker failed: exit 1: FileExistsError: .*maps"):
        writer.wait()
    writer.close()


def test_jobs_queued_after_the_start_go_to_the_running_workers(tmp_path, monkeypatch):
    """A run starts its workers first and queues maps later: the workers, already waiting,
    draw them (and their previews) before the caller even asks."""
    monkeypatch.setattr(_workers, "worker_count", lambda n, cpus=None: 1)
    writer = FigureWriter(scratch=tmp_path / "scratch", preview_scale=0.25)
    writer.start(expected=2)
    assert len(writer._procs) == 1 and not list((tmp_path / "scratch").glob("*.job"))
    _queue(writer, tmp_path / "maps", ["2024Q3", "2024Q4"])
    claims = [tmp_path / "scratch" / f"{n:04d}.claim" for n in (0, 1)]
    deadline = time.monotonic() + 60
    while not all(c.exists() for c in claims) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(c.exists() for c in claims)  # taken by the worker: the caller has not waited yet
    previews = writer.wait()
    assert sorted(previews) == ["2024Q3", "2024Q4"]
    for label, uri in previews.items():
        assert uri.startswith("data:image/jpeg;base64,")
        with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as small, \
                Image.open(tmp_path / "maps" / f"{label}.png") as full:
            assert small.size == (round(full.width / 4), round(full.height / 4))


def test_a_worker_leaves_when_the_run_that_started_it_is_gone(tmp_path):
    """A run killed outright (SIGKILL) cannot close its workers: they notice and exit."""
    import psutil

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    run = subprocess.Popen(
        [sys.executable, "-c",
         "import os, subprocess, sys, time\n"
         f"w = subprocess.Popen([sys.executable, '-m', 'geomon.report._workers', {str(scratch)!r},"
         " str(os.getpid()), ''])\n"
         "print(w.pid, flush=True)\n"
         "time.sleep(120)\n"],
        stdout=subprocess.PIPE, text=True)
    worker = psutil.Process(int(run.stdout.readline()))
    time.sleep(0.5)
    assert worker.is_running() and worker.status() != psutil.STATUS_ZOMBIE  # waiting for jobs
    run.kill()
    run.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if worker.status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    else:
        worker.kill()
        pytest.fail("the worker outlived the run that started it")
