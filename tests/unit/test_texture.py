"""Texture (local coefficient of variation) on small arrays with hand-checked answers, and the
``texture`` property it gives sites and look-alikes."""

from __future__ import annotations

from datetime import date

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from affine import Affine

from geomon.testing import raise_if_dask_computes
from geomon.texture import local_cv, texture
from geomon.vectorize import vectorize


def _window_cv(a: np.ndarray, y: int, x: int, r: int = 1) -> float:
    """The definition, one window at a time: NaN-skipping std over mean, edges cut off."""
    w = a[max(0, y - r): y + r + 1, max(0, x - r): x + r + 1]
    valid = np.isfinite(w).sum()
    if valid < 0.5 * (2 * r + 1) ** 2 or np.nanmean(w) <= 0:
        return np.nan
    return float(np.nanstd(w) / np.nanmean(w))


def _rough_field(seed: int = 0, shape: tuple[int, int] = (20, 23)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.02, 0.4, shape)
    a[rng.random(shape) < 0.15] = np.nan  # unobserved pixels
    a[3:8, 4:9] = np.nan  # a cloud: windows inside it are mostly empty
    return a


def test_smooth_ground_has_no_texture_and_pits_in_spoil_have_much():
    smooth = xr.DataArray(np.full((6, 6), 0.3), dims=("y", "x"))
    assert np.nanmax(np.abs(local_cv(smooth).values)) < 1e-6
    pits = np.where(np.indices((6, 6)).sum(0) % 2 == 0, 0.3, 0.03)  # spoil and dark pit water
    got = local_cv(xr.DataArray(pits, dims=("y", "x"))).values
    assert got[2, 2] == pytest.approx(_window_cv(pits, 2, 2), rel=1e-5)
    assert got[2, 2] > 0.7


def test_matches_the_definition_window_by_window_with_gaps_and_edges():
    a = _rough_field()
    got = local_cv(xr.DataArray(a, dims=("y", "x"))).values
    want = np.array([[_window_cv(a, y, x) for x in range(a.shape[1])] for y in range(a.shape[0])])
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-4, equal_nan=True)
    assert np.isnan(got[5, 6])  # the middle of the cloud
    assert np.isnan(got[0, 0]) == (np.isfinite(a[:2, :2]).sum() < 4.5)


def test_lazy_blocks_give_the_whole_grids_answer():
    stack = np.stack([_rough_field(s) for s in range(3)])
    eager = local_cv(xr.DataArray(stack, dims=("period", "y", "x"))).values
    lazy_in = xr.DataArray(da.from_array(stack, chunks=(1, 7, 6)), dims=("period", "y", "x"))
    with raise_if_dask_computes():
        lazy = local_cv(lazy_in, radius=1)
    assert isinstance(lazy.data, da.Array)
    np.testing.assert_allclose(lazy.values, eager, rtol=1e-6, equal_nan=True)


def test_texture_reads_swir16_and_names_itself():
    yx = ("y", "x")
    ds = xr.Dataset({"swir16": (yx, _rough_field(1)), "nir": (yx, np.ones((20, 23)))})
    out = texture(ds)
    assert out.name == "texture" and out.dtype == np.float32
    np.testing.assert_allclose(out.values, local_cv(ds.swir16).values, rtol=1e-5, equal_nan=True)


def test_sites_and_look_alikes_carry_their_mean_texture():
    state = np.zeros((2, 20, 20), "uint8")
    state[:, 2:7, 2:7] = 2
    conf = np.zeros_like(state)
    conf[1, 12:18, 10:18] = 2  # a cleared field
    flagged = np.full((20, 20), np.nan, "float32")
    flagged[2:7, 2:7] = 0.08
    flagged[2, 2] = np.nan  # a pixel without a value does not count
    flagged[3, 3] = 0.18
    flagged[12:18, 10:18] = 0.02
    periods = [(f"2024Q{i + 1}", date(2024, 3 * i + 1, 1), date(2024, 3 * i + 3, 28))
               for i in range(2)]
    kw = dict(transform=Affine(10, 0, 500000, 0, -10, 900000), crs="EPSG:32629",
              periods=periods, aoi_id="t", min_mapping_unit_ha=0.1)
    sites = vectorize(state, conf, np.zeros(state.shape, "float32"), texture=flagged, **kw)
    (site,) = sites.mining.itertuples()
    assert site.texture == pytest.approx((23 * 0.08 + 0.18) / 24, abs=1e-4)
    assert sites.features.iloc[0]["texture"] == site.texture
    (field,) = sites.confounders.itertuples()
    assert field[3] == "cropland" and field.texture == pytest.approx(0.02, abs=1e-4)

    bare = vectorize(state, conf, np.zeros(state.shape, "float32"), **kw)
    assert bare.mining.iloc[0]["texture"] is None
