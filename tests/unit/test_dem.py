"""Streams traced on a DEM (geomon.dem) and their use as drainage by the rule detector."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer

from geomon.dem import fill_depressions, flow_accumulation, streams_on_grid
from geomon.errors import GeomonError


def _valley(n: int = 41) -> np.ndarray:
    """A V-shaped valley along the middle column, falling to the south (row n-1)."""
    y, x = np.mgrid[0:n, 0:n].astype("float64")
    return 100 + 0.5 * (n - y) + 2.0 * np.abs(x - n // 2)


def test_filled_pits_drain_and_every_cell_reaches_the_edge():
    z = _valley()
    z[20, 20] -= 30  # a deep pit in the thalweg
    z[10:13, 20] = z[13, 20] - 5  # and a flat-bottomed one above it
    filled = fill_depressions(z)
    assert (filled >= z).all()
    assert filled[20, 20] > filled[21, 20], "the pit now drains downstream"
    acc = flow_accumulation(filled)
    # the thalweg collects the valley: its area grows all the way down to the outlet
    assert acc[-1, 20] == acc.max()
    assert (np.diff(acc[1:, 20]) > 0).all()
    # a valley side drains straight across (slope 2 m/cell beats 2.5 m over a diagonal)
    assert acc[20, 5] == 6


def test_nan_is_no_data_and_cells_next_to_it_drain_into_it():
    z = _valley(21)
    z[15:, :] = np.nan
    acc = flow_accumulation(fill_depressions(z))
    assert np.isnan(fill_depressions(z)[15:]).all()
    assert (acc[15:] == 0).all()
    assert acc[14, 10] == acc.max()


def _write(path: Path, z: np.ndarray, transform: Affine, crs: str | None) -> Path:
    profile = {"driver": "GTiff", "width": z.shape[1], "height": z.shape[0], "count": 1,
               "dtype": "float32", "transform": transform, "nodata": float("nan")}
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(z.astype("float32"), 1)
    return path


def test_streams_from_a_dem_in_degrees_land_on_the_valley_on_a_utm_grid(tmp_path):
    utm = "EPSG:32630"
    grid = Affine(10, 0, 500_000, 0, -10, 900_000)  # 2 km × 2 km at 10 m
    valley_x = 501_000.0
    # a lon/lat DEM (about 30 m cells) over the grid and 3 km around it
    to_ll = Transformer.from_crs(utm, "EPSG:4326", always_xy=True)
    lon0, lat1 = to_ll.transform(497_000, 903_000)
    lon1, lat0 = to_ll.transform(505_000, 895_000)
    step = 0.00027
    t = Affine(step, 0, lon0, 0, -step, lat1)
    rows, cols = int((lat1 - lat0) / step) + 1, int((lon1 - lon0) / step) + 1
    lon, lat = t * np.meshgrid(np.arange(cols) + 0.5, np.arange(rows) + 0.5)
    x, y = Transformer.from_crs("EPSG:4326", utm, always_xy=True).transform(lon, lat)
    z = 200 + 0.01 * (y - 895_000) + 0.2 * np.abs(x - valley_x)
    dem = _write(tmp_path / "dem.tif", z, t, "EPSG:4326")

    streams = streams_on_grid(dem, crs=utm, transform=grid, shape=(200, 200),
                              min_catchment_km2=0.5)
    xs = 500_000 + 10 * (np.nonzero(streams)[1] + 0.5)
    assert np.abs(xs - valley_x).max() <= 45, "a stream off the valley (> 1.5 DEM cells)"
    # 3 km of valley drain in from north of the grid: it is a stream from the top row down
    assert streams.any(axis=1).all()


def test_a_bad_dem_gets_a_readable_error(tmp_path):
    grid = {"crs": "EPSG:32630", "transform": Affine(10, 0, 500_000, 0, -10, 900_000),
            "shape": (50, 50)}
    with pytest.raises(GeomonError, match=r"detection\.dem: cannot read"):
        streams_on_grid(tmp_path / "missing.tif", **grid)
    flat = np.full((20, 20), 100.0)
    no_crs = _write(tmp_path / "nocrs.tif", flat, Affine(30, 0, 500_000, 0, -30, 900_000), None)
    with pytest.raises(GeomonError, match="no coordinate reference system"):
        streams_on_grid(no_crs, **grid)
    far = _write(tmp_path / "far.tif", flat, Affine(30, 0, 600_000, 0, -30, 900_000),
                 "EPSG:32630")
    with pytest.raises(GeomonError, match="covers less than half of the AOI"):
        streams_on_grid(far, **grid)


def test_simulated_dem_streams_follow_the_simulated_streams(tmp_path):
    from geomon.sample._dem import write_dem
    from geomon.sample._world import build_world

    world = build_world("seguela", 1, 256, date(2024, 1, 1), date(2024, 3, 31))
    dem = write_dem(world, tmp_path)
    streams = streams_on_grid(dem, crs=world.grid.crs, transform=Affine(*world.grid.transform),
                              shape=(256, 256))
    assert streams.sum() > 500
    near = world.land.dist_stream[streams] <= 30
    assert near.mean() >= 0.95, f"only {near.mean():.0%} of DEM streams lie on simulated ones"


SAVANNA = {"blue": 0.05, "green": 0.08, "red": 0.09, "nir": 0.25, "nir08": 0.26, "swir16": 0.25,
           "swir22": 0.15}  # NDVI 0.47: not bare, not the evergreen of gallery forest


def test_old_digging_away_from_any_visible_stream_counts_only_near_a_dem_stream():
    import pandas as pd
    import xarray as xr

    from geomon.composite import period_composites
    from geomon.config import DetectionConfig, Period
    from geomon.detect import RulesDetector
    from geomon.mask import clear_sky
    from geomon.testing import raise_if_dask_computes
    from tests.helpers import GRAVEL

    times = pd.date_range("2024-01-03", "2024-06-28", freq="10D")
    shape = (len(times), 40, 40)
    old = (slice(10, 16), slice(10, 16))  # dug before the baseline; gallery forest long gone
    bands = {}
    for b in SAVANNA:
        bands[b] = np.full(shape, SAVANNA[b], "float32")
        bands[b][:, old[0], old[1]] = GRAVEL[b]
    ds = xr.Dataset({**{b: (("time", "y", "x"), v) for b, v in bands.items()},
                     "scl": (("time", "y", "x"), np.full(shape, 5, "uint8"))},
                    coords={"time": times, "y": np.arange(40)[::-1] * 10.0,
                            "x": np.arange(40) * 10.0}).chunk({"time": 1, "y": 20, "x": 20})
    periods = [Period("2024Q1", date(2024, 1, 1), date(2024, 3, 31)),
               Period("2024Q2", date(2024, 4, 1), date(2024, 6, 30))]
    detector = RulesDetector(DetectionConfig())
    comp = period_composites(ds, clear_sky(ds), periods, bands=list(SAVANNA),
                             fractions=detector.observation_layers(ds))
    stream = np.zeros((40, 40), bool)
    stream[:, 20] = True  # a valley 5 px (50 m) east of the diggings, seen only on the DEM
    with raise_if_dask_computes():
        without = detector.detect(comp, n_baseline=1).state
        with_dem = detector.detect(comp.assign(dem_streams=(("y", "x"), stream)),
                                   n_baseline=1).state
    assert not (without.values[0][old] == 2).any()
    assert (with_dem.values[0][old] == 2).all()
