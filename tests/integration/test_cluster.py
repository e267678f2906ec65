"""The same assessment on a real multi-process dask cluster and on local threads: same results."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import rasterio

from geomon.cluster import ENV_VAR, choose_scheduler, dask_client, scheduler_summary
from geomon.errors import GeomonError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes and a scheduler, on loopback only."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.ERROR) as c:
        yield c


def _rasters(run_dir):
    out = {}
    for path in sorted((run_dir / "rasters").glob("state_*.tif")):
        with rasterio.open(path) as src:
            out[path.name] = (src.read(), src.transform, src.crs)
    return out


def test_cluster_run_equals_threaded_run(cluster, scene_pipeline, monkeypatch):
    from distributed import get_task_stream

    from geomon.pipeline import run_pipeline

    monkeypatch.delenv(ENV_VAR, raising=False)
    pipe = scene_pipeline(end="2024-06-30")  # baseline 2024Q1, assessed 2024Q2: fast enough
    with dask_client() as none:
        assert none is None
        threaded = run_pipeline(pipe)

    with dask_client(cluster.scheduler_address) as client:
        assert client is not None
        expected = {"scheduler": cluster.scheduler_address, "workers": 2, "threads": 2}
        assert scheduler_summary(client) == expected
        assert scheduler_summary() == expected  # the active default client
        with get_task_stream(client) as stream:
            # rerun: compute every period again on the cluster, not reuse the threaded run's
            distributed = run_pipeline(pipe, rerun=True)
    assert json.loads((distributed.run_dir / "manifest.json").read_text())["composites"][
        "reused"] == 0

    # the work really ran on the worker processes, not quietly in this one
    ran_on = {t["worker"] for t in stream.data}
    assert ran_on == set(cluster.scheduler_info["workers"]), ran_on
    assert len(stream.data) > 50
    # odc-stac names its read tasks after the band (20 m bands fused with their upsampling):
    # the imagery itself was read on the workers
    keys = [str(t["key"]) for t in stream.data]
    for band in ("blue", "nir", "swir16", "scl"):
        assert any(band in k.split("-") for k in keys), (band, sorted(set(keys))[:20])

    assert threaded.run_dir != distributed.run_dir
    a = json.loads((threaded.run_dir / "detections.geojson").read_text())
    b = json.loads((distributed.run_dir / "detections.geojson").read_text())
    assert a["features"], "the scene has digging; nothing was detected"
    assert a["features"] == b["features"]
    assert (threaded.run_dir / "areas.csv").read_text() == \
        (distributed.run_dir / "areas.csv").read_text()

    ra, rb = _rasters(threaded.run_dir), _rasters(distributed.run_dir)
    assert ra and ra.keys() == rb.keys()
    for name in ra:
        np.testing.assert_array_equal(ra[name][0], rb[name][0], err_msg=name)
        assert ra[name][1:] == rb[name][1:]


def test_environment_address_is_used(cluster, monkeypatch):
    monkeypatch.setenv(ENV_VAR, cluster.scheduler_address)
    with dask_client() as client:
        assert client is not None
        assert client.scheduler.address == cluster.scheduler_address
        assert client.submit(sum, [1, 2, 3]).result() == 6
    assert client.status == "closed"


def test_choice_order(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "tcp://env:8786")
    assert choose_scheduler("tcp://arg:8786", fallback="tcp://file:8786").origin == "argument"
    assert choose_scheduler(None, fallback="tcp://file:8786").address == "tcp://env:8786"
    monkeypatch.setenv(ENV_VAR, "  ")
    assert choose_scheduler(None, fallback="tcp://file:8786").origin == "pipeline"
    monkeypatch.delenv(ENV_VAR)
    assert choose_scheduler().address is None


def test_local_scheduler_is_threads_sized_to_machine(monkeypatch):
    import os

    import dask

    monkeypatch.delenv(ENV_VAR, raising=False)
    with dask_client() as client:
        assert client is None
        assert dask.config.get("scheduler") == "threads"
        assert dask.config.get("num_workers") == os.cpu_count()
        assert scheduler_summary() == {"scheduler": "threads", "workers": 1,
                                       "threads": os.cpu_count()}
    with dask_client(processes=True):
        assert dask.config.get("scheduler") == "processes"


def test_unreachable_scheduler_names_address_without_password(monkeypatch, caplog):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(GeomonError) as err, dask_client("tcp://ops:hunter22@127.0.0.1:1",
                                                        timeout=2):
        pass  # pragma: no cover - never reached
    text = str(err.value)
    assert "127.0.0.1:1" in text and "--scheduler" in text
    assert "hunter22" not in text and "ops:" not in text
    assert "hunter22" not in caplog.text
    import dask

    assert dask.config.get("scheduler", None) is None  # dask is not left pointing at it


def test_nested_call_without_address_keeps_the_outer_scheduler(cluster, monkeypatch):
    """run_pipeline opens its own dask_client(); inside an outer one it must not go local."""
    import dask

    monkeypatch.delenv(ENV_VAR, raising=False)
    with dask_client(cluster.scheduler_address) as outer:
        with dask_client() as inner:
            assert inner is outer
            assert dask.config.get("scheduler") is outer
        assert outer.status == "running"
    with dask.config.set(scheduler="synchronous"), dask_client() as inner:
        assert inner is None and dask.config.get("scheduler") == "synchronous"
