"""Tiles of the AOI grid, the composite cache, the fast median, progress and date overrides."""

from __future__ import annotations

import logging
import os
import warnings
from datetime import date, timedelta

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from geomon.cache import CompositeCache, prune
from geomon.composite import nanmedian_time
from geomon.config import Period, latest_complete_end
from geomon.progress import Progress
from geomon.runs import RunDir, sweep_unfinished
from geomon.testing import raise_if_dask_computes
from geomon.tiles import tile_grid


@pytest.mark.parametrize(("shape", "tile_px"), [((250, 250), 64), ((1018, 2040), 1024),
                                                ((100, 37), 512), ((129, 128), 128)])
def test_tiles_cover_the_grid_once_and_none_is_a_sliver(shape, tile_px):
    tiles = tile_grid(shape, tile_px=tile_px)
    hits = np.zeros(shape, int)
    for t in tiles:
        hits[t.y, t.x] += 1
        assert max(t.shape) <= tile_px
        assert min(t.shape) >= min(tile_px // 2, *shape)
    assert (hits == 1).all()
    assert len({t.name for t in tiles}) == len(tiles)


def test_tile_halo_is_clipped_and_the_core_found_inside_it():
    tiles = tile_grid((250, 250), tile_px=128)
    assert len(tiles) == 4
    first, last = tiles[0], tiles[-1]
    window = first.read(20, (250, 250))
    assert window == (slice(0, 145), slice(0, 145))
    assert first.core_in(window) == (slice(0, 125), slice(0, 125))
    window = last.read(20, (250, 250))
    assert window == (slice(105, 250), slice(105, 250))
    data = np.arange(250 * 250).reshape(250, 250)
    assert np.array_equal(data[window][last.core_in(window)], data[last.y, last.x])


def _composite(shape, value):
    return xr.Dataset({"red": (("y", "x"), np.full(shape, value, "float32")),
                       "clear_count": (("y", "x"), np.full(shape, 3, "int16"))})


def test_cache_round_trip_is_lazy_and_exact(tmp_path):
    tiles = tile_grid((40, 70), tile_px=32)
    cache = CompositeCache(tmp_path, {"grid": "test"})
    periods = [Period("2024Q1", date(2024, 1, 1), date(2024, 3, 31)),
               Period("2024Q2", date(2024, 4, 1), date(2024, 6, 30))]
    keys = [cache.key(p, [{"id": f"S2_{p.label}", "datetime": p.start.isoformat()}])
            for p in periods]
    for i, key in enumerate(keys):
        for t in tiles:
            assert not cache.has(key, t)
            cache.put(key, t, _composite(t.shape, 10 * i + t.row * 2 + t.col))
            assert cache.has(key, t)
    coords = {"y": np.arange(40), "x": np.arange(70)}
    with raise_if_dask_computes():
        comps = cache.open(keys, tiles, coords=coords)
    assert comps.red.dims == ("period", "y", "x") and comps.red.shape == (2, 40, 70)
    assert list(comps.period.values) == ["2024Q1", "2024Q2"]
    expected = np.zeros((2, 40, 70), "float32")
    for i in range(2):
        for t in tiles:
            expected[i, t.y, t.x] = 10 * i + t.row * 2 + t.col
    assert np.array_equal(comps.red.values, expected)
    assert comps.clear_count.dtype == np.int16
    assert not list(tmp_path.rglob("*.tmp")), "no temporary folder is left behind"


def test_cache_key_changes_with_the_acquisitions_and_the_settings(tmp_path):
    p = Period("2024Q1", date(2024, 1, 1), date(2024, 3, 31))
    items = [{"id": "a", "datetime": "2024-01-05T10:00:00"}]
    k1 = CompositeCache.key(p, items)
    assert CompositeCache.key(p, list(reversed(items))) == k1
    assert CompositeCache.key(p, [*items, {"id": "b", "datetime": "2024-02-01"}]) != k1
    a = CompositeCache(tmp_path, {"mask": {"cloud_buffer_px": 1}})
    b = CompositeCache(tmp_path, {"mask": {"cloud_buffer_px": 2}})
    assert a.root != b.root
    assert (a.root / "fingerprint.json").exists()


def test_a_tile_of_the_wrong_shape_is_refused_and_leaves_nothing(tmp_path):
    (tile,) = tile_grid((10, 10), tile_px=64)
    cache = CompositeCache(tmp_path, {})
    key = cache.key(Period("p", date(2024, 1, 1), date(2024, 1, 31)), [])
    with pytest.raises(ValueError, match="shape"):
        cache.put(key, tile, _composite((9, 10), 1.0))
    assert not cache.has(key, tile)
    assert not [p for p in tmp_path.rglob("*") if p.is_dir() and p.name.endswith(".tmp")]


@pytest.mark.parametrize("n_time", [1, 2, 7, 8])
def test_fast_median_equals_xarray_median(n_time):
    rng = np.random.default_rng(n_time)
    a = rng.random((n_time, 70, 20)).astype("float32")
    a[rng.random(a.shape) < 0.4] = np.nan
    a[:, 0, 0] = np.nan  # never seen
    # blocks of 35 rows: taken 32 rows at a time, then the rest
    ds = xr.Dataset({"b": (("time", "y", "x"), da.from_array(a, chunks=(n_time, 35, 10)))})
    with raise_if_dask_computes():
        fast = nanmedian_time(ds)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        slow = ds.median("time", skipna=True).astype("float32").b.values
    assert fast.b.dtype == np.float32
    assert np.array_equal(fast.b.values, slow, equal_nan=True)
    assert np.isnan(fast.b.values[0, 0])


@pytest.mark.parametrize("n_time", [1, 7])
def test_fast_median_of_clear_views_equals_xarray_median_of_masked(n_time):
    rng = np.random.default_rng(10 + n_time)
    a = rng.random((n_time, 70, 20)).astype("float32")
    a[rng.random(a.shape) < 0.1] = np.nan
    ok = rng.random(a.shape) < 0.6
    ok[:, 0, 0] = False  # never seen clearly
    dims = ("time", "y", "x")
    ds = xr.Dataset({"b": (dims, da.from_array(a, chunks=(n_time, 35, 10)))})
    clear = xr.DataArray(da.from_array(ok, chunks=(n_time, 35, 10)), dims=dims)
    with raise_if_dask_computes():
        fast = nanmedian_time(ds, clear)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        slow = ds.where(clear).median("time", skipna=True).astype("float32").b.values
    assert np.array_equal(fast.b.values, slow, equal_nan=True)
    assert np.isnan(fast.b.values[0, 0])
    # the mask changed the result: the values it hides are not in the median
    assert not np.array_equal(fast.b.values, nanmedian_time(ds).b.values, equal_nan=True)


def test_progress_logs_each_step_with_time_left(caplog):
    bar = Progress(3, "composites")
    with caplog.at_level(logging.INFO, logger="geomon.progress"):
        for label in ("r000c000 2024Q1", "r000c000 2024Q2", "r000c001 2024Q1"):
            bar.step(label)
    bar.close()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("composites 1/3 r000c000 2024Q1, ~")
    assert lines[-1].startswith("composites 3/3 r000c001 2024Q1, ~0s left")


@pytest.mark.parametrize(("kind", "today", "end"), [
    ("quarter", date(2026, 11, 28), date(2026, 9, 30)),
    ("quarter", date(2026, 1, 1), date(2025, 12, 31)),
    ("month", date(2026, 3, 15), date(2026, 2, 28)),
])
def test_latest_complete_end(kind, today, end):
    assert latest_complete_end(kind, today) == end


def test_an_entry_made_from_incomplete_imagery_is_not_reused(tmp_path):
    (tile,) = tile_grid((10, 10), tile_px=64)
    cache = CompositeCache(tmp_path, {})
    key = cache.key(Period("p", date(2024, 1, 1), date(2024, 1, 31)), [])
    cache.put(key, tile, _composite((10, 10), 1.0), reusable=False)
    assert not cache.has(key, tile)
    comps = cache.open([key], [tile], coords={"y": np.arange(10), "x": np.arange(10)})
    assert float(comps.red.max()) == 1.0  # the run that made it still reads it
    cache.put(key, tile, _composite((10, 10), 2.0))  # a later, complete run replaces it
    assert cache.has(key, tile)


def _age(path, days):
    t = path.stat().st_mtime - days * 86400
    os.utime(path, (t, t))


def test_prune_removes_what_no_run_used_lately_and_leftovers_of_killed_runs(tmp_path):
    (tile,) = tile_grid((10, 10), tile_px=64)
    q1, q2 = (Period(f"2024Q{i}", date(2024, 3 * i - 2, 1), date(2024, 3 * i, 28))
              for i in (1, 2))
    old = CompositeCache(tmp_path, {"mask": {"cloud_buffer_px": 1}})
    live = CompositeCache(tmp_path, {"mask": {"cloud_buffer_px": 2}})
    k_old = old.key(q1, [])
    old.put(k_old, tile, _composite((10, 10), 1.0))
    k1, k2 = live.key(q1, []), live.key(q2, [])
    for key in (k1, k2):
        live.put(key, tile, _composite((10, 10), 1.0))
    leftover = live.root / k1.folder / ".t0x0.abcd.tmp"  # a killed put
    leftover.mkdir()
    fresh_tmp = live.root / k2.folder / ".t0x0.ef01.tmp"  # a put in progress
    fresh_tmp.mkdir()
    for path in (old.root, live.root / k1.folder, leftover):
        _age(path, 200)
    live.open([k2], [tile], coords={"y": np.arange(10), "x": np.arange(10)})  # marks k2 used

    dry = prune(tmp_path, older_than=timedelta(days=180), dry_run=True)
    assert set(dry.removed) == {old.root, live.root / k1.folder}  # leftover goes with k1
    assert old.root.exists() and dry.removed_bytes > 0

    done = prune(tmp_path, older_than=timedelta(days=180))
    assert set(done.removed) == set(dry.removed)
    assert not old.root.exists() and not (live.root / k1.folder).exists()
    assert live.has(k2, tile) and fresh_tmp.exists()
    assert not list(tmp_path.rglob("*.deleting"))
    assert done.kept_bytes == _tree_bytes(tmp_path)

    _age(fresh_tmp, 2)
    assert prune(tmp_path, older_than=timedelta(days=180)).removed == (fresh_tmp,)


def _tree_bytes(path):
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_a_killed_runs_folder_is_swept_but_a_live_one_is_not(tmp_path):
    live = RunDir.create(tmp_path, "pipe")
    dead = RunDir.create(tmp_path, "pipe")
    os.close(dead.lock_fd)  # as if its process had been killed: the lock is gone
    (dead.work / "half.tif").write_bytes(b"x")
    finished = RunDir.create(tmp_path, "pipe")
    finished.finish()

    assert sweep_unfinished(tmp_path, "pipe") == [dead.work]
    assert not dead.work.exists() and live.work.exists() and finished.final.exists()
    live.finish()
    assert sorted(p.name for p in (tmp_path / "pipe").iterdir()) == \
        sorted([live.run_id, finished.run_id]), "no lock file or work folder is left"


def test_cache_prune_command_lists_then_removes(tmp_path):
    from click.testing import CliRunner

    from geomon.cli import cli

    (tile,) = tile_grid((10, 10), tile_px=64)
    cache = CompositeCache(tmp_path / ".cache" / "composites", {})
    cache.put(cache.key(Period("p", date(2024, 1, 1), date(2024, 1, 31)), []), tile,
              _composite((10, 10), 1.0))
    _age(cache.root, 10)
    args = ["cache", "prune", "--outputs", str(tmp_path), "--older-than", "7"]
    dry = CliRunner().invoke(cli, [*args, "--dry-run"])
    assert dry.exit_code == 0 and f"would remove {cache.root}" in dry.output
    assert cache.root.exists()
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 0 and f"removed {cache.root}" in done.output
    assert not cache.root.exists()
