"""Edge recovery (mixed pixels at a site's border) and AOI-adaptive thresholds, kept lazy."""

from __future__ import annotations

from datetime import date

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from geomon.composite import period_composites
from geomon.config import DetectionConfig, make_periods
from geomon.detect import RulesDetector
from geomon.detect.thresholds import EDGE_NDVI_SPAN, aoi_quantile, edge_ndvi
from geomon.mask import clear_sky
from geomon.morphology import grow_within
from geomon.testing import raise_if_dask_computes
from tests.helpers import GRAVEL

PERIODS = make_periods(date(2023, 1, 1), date(2023, 9, 30), "quarter")  # 1 baseline + 2
N = 32
SITE = (slice(8, 16), slice(8, 16))
#: Share of spoil in the site's border pixels: too little for the per-view spoil test.
MIX = 0.6
#: A new laterite road along the site's lower border (rows 17-18), built with the site.
ROAD_ROWS = (slice(17, 19), slice(6, 18))
LATERITE = {"blue": 0.085, "green": 0.125, "red": 0.2, "nir": 0.28, "nir08": 0.295,
            "swir16": 0.37, "swir22": 0.31}


def _veg(ndvi: float) -> dict[str, float]:
    """Green ground with the given NDVI (blue and SWIR dull)."""
    red = 0.04
    nir = red * (1 + ndvi) / (1 - ndvi)
    return {"blue": 0.04, "green": 0.07, "red": red, "nir": nir, "nir08": nir + 0.01,
            "swir16": 0.2, "swir22": 0.1}


def _ground(veg_ndvi: float = 0.76, road: bool = False
            ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Per band, the (y, x) reflectance once digging has started; and the site's core and
    border masks. A patch of the same mixed spectrum far from any digging is left alone; with
    ``road``, a strip of road pixels (60% laterite) runs along the border."""
    veg = _veg(veg_ndvi)
    core = np.zeros((N, N), bool)
    core[SITE] = True
    border = np.zeros((N, N), bool)
    border[7:17, 7:17] = True
    border &= ~core
    lone = np.zeros((N, N), bool)
    lone[24:28, 24:28] = True  # mixed spectrum, no digging next to it
    out = {}
    for b in GRAVEL:
        a = np.full((N, N), veg[b], "float32")
        mixed = MIX * GRAVEL[b] + (1 - MIX) * veg[b]
        a[border | lone] = mixed
        a[core] = GRAVEL[b]
        if road:
            a[ROAD_ROWS] = MIX * LATERITE[b] + (1 - MIX) * veg[b]
        out[b] = a
    return out, core, border


def _cube(veg_ndvi: float = 0.76, road: bool = False) -> xr.Dataset:
    """Vegetation all of 2023Q1; a gravel site with a border of mixed pixels from April."""
    times = pd.date_range("2023-01-03", "2023-09-28", freq="6D")
    dug, _, _ = _ground(veg_ndvi, road)
    veg = _veg(veg_ndvi)
    rng = np.random.default_rng(0)
    shape = (len(times), N, N)
    bands = {b: np.zeros(shape, "float32") for b in GRAVEL}
    for t, ts in enumerate(times):
        for b in bands:
            base = dug[b] if ts >= pd.Timestamp("2023-04-01") else np.full((N, N), veg[b])
            bands[b][t] = base + rng.normal(0, 0.003, (N, N))
    ds = xr.Dataset(
        {**{b: (("time", "y", "x"), v) for b, v in bands.items()},
         "scl": (("time", "y", "x"), np.full(shape, 4, "uint8"))},
        coords={"time": times, "y": np.arange(N)[::-1] * 10.0, "x": np.arange(N) * 10.0},
    )
    return ds.chunk({"time": 1, "y": 16, "x": 16})  # 4 tiles: growth must cross their seams


def _detect(config: DetectionConfig, veg_ndvi: float = 0.76, road: bool = False):
    ds = _cube(veg_ndvi, road)
    detector = RulesDetector(config)
    with raise_if_dask_computes():
        clear = clear_sky(ds, buffer_px=0)
        comp = period_composites(ds, clear, PERIODS, bands=list(GRAVEL),
                                 fractions=detector.observation_layers(ds))
        det = detector.detect(comp, n_baseline=1)
    return det


@pytest.fixture(scope="module")
def with_and_without_edges():
    on = _detect(DetectionConfig())
    off = _detect(DetectionConfig(edge_px=0))
    return on.state.values, off.state.values, on


def test_border_pixels_fail_the_per_view_spoil_test():
    dug, _, border = _ground()
    assert (dug["blue"][border] < DetectionConfig().spoil_blue).all()


def test_a_site_with_mixed_edge_pixels_recovers_its_area(with_and_without_edges):
    on, off, _ = with_and_without_edges
    _, core, border = _ground()
    true_px = (core | border).sum()  # 100 px: 64 gravel, 36 mixed
    digging_on, digging_off = np.isin(on, (1, 2)), np.isin(off, (1, 2))
    assert digging_off[0].sum() == core.sum()  # without edges: 36% short
    assert abs(digging_on[0].sum() - true_px) <= 0.05 * true_px
    assert (on[0][core | border] == 1).all()  # the border is new digging like its core
    assert (on[1][core | border] == 2).all()  # and active in the next period


def test_edge_recovery_adds_no_site_away_from_digging(with_and_without_edges):
    on, _, _ = with_and_without_edges
    _, core, border = _ground()
    assert not np.isin(on[:, ~(core | border)], (1, 2)).any()


def test_thresholds_used_are_reported_per_assessed_period(with_and_without_edges):
    *_, det = with_and_without_edges
    used = det.thresholds["edge_ndvi"].values
    assert used.shape == (2,)
    assert np.all((used > 0.3) & (used <= 0.3 + EDGE_NDVI_SPAN))
    # the redness allowed is the site's own spoil colour plus the margin
    g = GRAVEL
    spoil = (g["red"] - g["blue"]) / (g["red"] + g["blue"])
    c = DetectionConfig()
    np.testing.assert_allclose(det.thresholds["edge_redness"].values,
                               spoil + c.edge_redness_margin, atol=0.01)


def test_edges_do_not_grow_into_a_red_road_along_the_site():
    _, core, border = _ground(road=True)
    road = np.zeros((N, N), bool)
    road[ROAD_ROWS] = True
    road &= ~(core | border)
    state = _detect(DetectionConfig(), road=True).state.values
    # the road passes the NDVI part of the edge test, but it is red, not gravel-grey
    blind = _detect(DetectionConfig(edge_redness_margin=1.0), road=True).state.values
    assert np.isin(blind[0][road], (1, 2)).sum() >= 0.5 * road.sum()
    assert not np.isin(state[:, road], (1, 2)).any()
    assert (state[0][core | border] == 1).all()  # the site's own border is still recovered


def test_edge_redness_falls_back_to_gravel_without_spoil():
    from geomon.detect.thresholds import GRAVEL_REDNESS, edge_redness

    red = xr.DataArray(da.full((2, 8, 8), 0.4, chunks=(1, 8, 8)), dims=("period", "y", "x"),
                       coords={"period": ["a", "b"]})
    spoil = xr.zeros_like(red, dtype=bool)
    spoil[0, :4] = True
    c = DetectionConfig()
    with raise_if_dask_computes():
        got = edge_redness(red, spoil, c)
    np.testing.assert_allclose(got.values, [0.4 + c.edge_redness_margin,
                                            GRAVEL_REDNESS + c.edge_redness_margin], atol=0.01)
    fixed = edge_redness(red, spoil, DetectionConfig(thresholds="fixed")).values
    np.testing.assert_allclose(fixed, GRAVEL_REDNESS + c.edge_redness_margin)


def test_fixed_thresholds_miss_the_border_that_adaptive_ones_recover():
    # the border's NDVI (about 0.34) is above ndvi_bare: only the AOI's green background
    # (NDVI 0.76) tells that it is half spoil
    fixed = _detect(DetectionConfig(thresholds="fixed")).state.values
    _, core, _ = _ground()
    assert np.isin(fixed[0], (1, 2)).sum() == core.sum()


def test_adaptive_edge_threshold_follows_the_aoi_background():
    def ndvi_cube(level: float) -> xr.DataArray:
        rng = np.random.default_rng(1)
        v = level + rng.normal(0, 0.03, (2, 40, 40))
        v[:, :5] = np.nan  # unobserved pixels do not count
        return xr.DataArray(da.from_array(v, chunks=(1, 20, 20)), dims=("period", "y", "x"),
                            coords={"period": ["a", "b"]})

    c = DetectionConfig()
    green, dry = edge_ndvi(ndvi_cube(0.7), c).values, edge_ndvi(ndvi_cube(0.4), c).values
    np.testing.assert_allclose(green, 0.1 + 0.5 * (0.7 - 0.1), atol=0.01)
    np.testing.assert_allclose(dry, 0.1 + 0.5 * (0.4 - 0.1), atol=0.01)
    # a bare AOI cannot drag the threshold below ndvi_bare - EDGE_NDVI_SPAN
    assert edge_ndvi(ndvi_cube(0.05), c).values.min() == pytest.approx(0.3 - EDGE_NDVI_SPAN)
    fixed = edge_ndvi(ndvi_cube(0.7), DetectionConfig(thresholds="fixed")).values
    np.testing.assert_allclose(fixed, [0.3, 0.3])


def test_aoi_quantile_matches_numpy_and_ignores_unobserved_pixels():
    rng = np.random.default_rng(2)
    v = rng.uniform(-0.3, 0.9, (3, 30, 50))
    v[1, :12] = np.nan
    v[2] = np.nan
    arr = xr.DataArray(da.from_array(v, chunks=(1, 16, 16)), dims=("period", "y", "x"),
                       coords={"period": [0, 1, 2]})
    with raise_if_dask_computes():
        q = aoi_quantile(arr, 0.25)
    got = q.values
    want = np.nanpercentile(v[:2].reshape(2, -1), 25, axis=1)
    np.testing.assert_allclose(got[:2], want, atol=0.006)
    assert np.isnan(got[2])


@pytest.mark.parametrize("connectivity", [4, 8])
def test_grow_within_is_geodesic_bounded_and_the_same_tiled(connectivity):
    rng = np.random.default_rng(3)
    seed = np.zeros((2, 40, 40), bool)
    seed[:, 18:22, 18:22] = True
    allowed = rng.random((2, 40, 40)) < 0.6
    whole = grow_within(xr.DataArray(seed, dims=("p", "y", "x")),
                        xr.DataArray(allowed, dims=("p", "y", "x")), 2,
                        connectivity=connectivity).values
    tiled = grow_within(xr.DataArray(da.from_array(seed, chunks=(1, 13, 13)), dims=("p", "y", "x")),
                        xr.DataArray(da.from_array(allowed, chunks=(1, 13, 13)),
                                     dims=("p", "y", "x")), 2, connectivity=connectivity)
    np.testing.assert_array_equal(tiled.values, whole)
    assert (whole >= seed).all() and not (whole & ~seed & ~allowed).any()
    ring = np.zeros((40, 40), bool)
    ring[16:24, 16:24] = True  # nothing beyond two steps
    assert not whole[:, ~ring].any()
    # a pixel is only reached through allowed pixels
    blocked = grow_within(xr.DataArray(seed, dims=("p", "y", "x")),
                          xr.DataArray(np.zeros_like(allowed), dims=("p", "y", "x")), 2).values
    np.testing.assert_array_equal(blocked, seed)


@pytest.mark.parametrize("px", [1, 2, 4, 5, 7, 20])
def test_dilate_is_the_disk_dilation_at_every_radius_and_the_same_tiled(px):
    """Small radii OR shifted copies, large ones measure distances: the same pixels either way,
    empty periods included, and block by block as on the whole grid."""
    from scipy import ndimage

    from geomon.morphology import dilate, disk

    rng = np.random.default_rng(px)
    mask = rng.random((3, 70, 90)) < 0.01
    mask[1] = False  # a period with nothing to grow
    want = ndimage.binary_dilation(mask, structure=disk(px)[None])
    whole = dilate(xr.DataArray(mask, dims=("p", "y", "x")), px).values
    with raise_if_dask_computes():
        lazy = dilate(xr.DataArray(da.from_array(mask, chunks=(1, 23, 31)), dims=("p", "y", "x")),
                      px)
    np.testing.assert_array_equal(whole, want)
    np.testing.assert_array_equal(lazy.values, want)
