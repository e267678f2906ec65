"""The harmonic (time-series) method on a two-year synthetic cube with known answers, kept lazy."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from geomon.composite import period_composites
from geomon.config import DetectionConfig, make_periods
from geomon.detect import HarmonicDetector, make_detector
from geomon.detect.harmonic import OMEGA, fit_harmonic
from geomon.mask import clear_sky
from geomon.testing import raise_if_dask_computes
from tests.helpers import BURN, GRAVEL

SOIL = {"blue": 0.07, "green": 0.09, "red": 0.12, "nir": 0.18, "nir08": 0.19, "swir16": 0.26,
        "swir22": 0.2}
PERIODS = make_periods(date(2023, 1, 1), date(2024, 12, 31), "quarter")  # 4 baseline + 4
DIG, CROP, BURNT = (slice(2, 10), slice(2, 10)), (slice(12, 20), slice(2, 10)), \
    (slice(12, 20), slice(12, 20))


def _vegetation(ts: pd.Timestamp) -> dict[str, float]:
    """Savanna greening in the wet season: NDVI swings from about 0.45 to 0.75."""
    green = 0.5 + 0.5 * np.cos(OMEGA * (ts.day_of_year - 240))
    nir, red = 0.25 + 0.12 * green, 0.07 - 0.035 * green
    return {"blue": 0.04, "green": 0.07, "red": red, "nir": nir, "nir08": nir + 0.01,
            "swir16": 0.2 - 0.04 * green, "swir22": 0.1}


def _cube(n_side: int = 24) -> xr.Dataset:
    """Seasonal vegetation; a field bare every Feb-Apr of both years; digging from 2024-05;
    a fire scar in 2024-02 that greens up by May."""
    times = pd.date_range("2023-01-04", "2024-12-28", freq="12D")
    shape = (len(times), n_side, n_side)
    rng = np.random.default_rng(0)
    bands = {b: np.zeros(shape, "float32") for b in GRAVEL}
    for t, ts in enumerate(times):
        veg = _vegetation(ts)
        for b in bands:
            bands[b][t] = veg[b] + rng.normal(0, 0.004, shape[1:])
            if ts.month in (2, 3, 4):
                bands[b][t][CROP] = SOIL[b]
            if ts >= pd.Timestamp("2024-05-01"):
                bands[b][t][DIG] = GRAVEL[b]
            if pd.Timestamp("2024-02-01") <= ts < pd.Timestamp("2024-04-20"):
                bands[b][t][BURNT] = BURN[b]
    ds = xr.Dataset(
        {**{b: (("time", "y", "x"), v) for b, v in bands.items()},
         "scl": (("time", "y", "x"), np.full(shape, 4, "uint8"))},
        coords={"time": times, "y": np.arange(n_side)[::-1] * 10.0,
                "x": np.arange(n_side) * 10.0},
    )
    return ds.chunk({"time": 1})


@pytest.fixture(scope="module")
def detection():
    ds = _cube()
    detector = HarmonicDetector(DetectionConfig(method="harmonic"))
    with raise_if_dask_computes():
        clear = clear_sky(ds, buffer_px=1)
        comp = period_composites(ds, clear, PERIODS, bands=list(GRAVEL),
                                 fractions=detector.observation_layers(ds),
                                 sums=detector.observation_sums(ds))
        det = detector.detect(comp, n_baseline=4)
    return comp, det.state.compute().values, det.confounder.compute().values


def test_sums_are_stored_per_period(detection):
    comp, _, _ = detection
    n = comp.clear_count.values.astype(float)
    assert {f"h{k}_sum" for k in ("c", "s", "y", "yy")} <= set(comp.data_vars)
    # cos² + sin² = 1 on every clear view
    np.testing.assert_allclose(comp.hcc_sum.values + comp.hss_sum.values, n, rtol=1e-5)


def test_harmonic_flags_digging_when_it_starts_and_keeps_it_active(detection):
    _, state, _ = detection  # assessed 2024Q1..Q4
    assert not np.isin(state[0][DIG], (1, 2)).any()
    assert (state[1][DIG] == 1).all()  # new in 2024Q2
    assert (state[2][DIG] == 2).all() and (state[3][DIG] == 2).all()


def test_a_field_bare_every_year_is_its_season_not_a_break(detection):
    _, state, _ = detection
    assert not np.isin(state[:, CROP[0], CROP[1]], (1, 2)).any()


def test_a_fire_scar_that_regrows_is_not_digging(detection):
    _, state, conf = detection
    assert not np.isin(state[:, BURNT[0], BURNT[1]], (1, 2)).any()
    assert (conf[0][BURNT] == 1).mean() > 0.9  # fire scar in 2024Q1


def test_nothing_else_is_flagged(detection):
    _, state, _ = detection
    outside = np.ones(state.shape[1:], bool)
    outside[DIG] = False
    assert not np.isin(state[:, outside], (1, 2)).any()


def test_fit_recovers_a_seasonal_cycle_and_its_scatter():
    rng = np.random.default_rng(1)
    day = np.arange(0, 730, 5.0)
    y = 0.6 + 0.15 * np.cos(OMEGA * day) + 0.05 * np.sin(OMEGA * day) + rng.normal(0, 0.05,
                                                                                  day.size)
    c, s = np.cos(OMEGA * day), np.sin(OMEGA * day)
    sums = {k: xr.DataArray(v.sum()) for k, v in {
        "c": c, "s": s, "cc": c * c, "cs": c * s, "ss": s * s, "y": y, "cy": c * y,
        "sy": s * y, "yy": y * y}.items()}
    b0, b1, b2, sd = (float(v) for v in fit_harmonic(xr.DataArray(float(day.size)), **sums))
    assert b0 == pytest.approx(0.6, abs=0.01)
    assert b1 == pytest.approx(0.15, abs=0.02) and b2 == pytest.approx(0.05, abs=0.02)
    assert sd == pytest.approx(0.05, rel=0.15)
    none = fit_harmonic(xr.DataArray(2.0), **{k: xr.DataArray(0.0) for k in sums})
    assert all(np.isnan(float(v)) for v in none)  # too few views: no model, no break


def test_make_detector_selects_harmonic():
    assert isinstance(make_detector(DetectionConfig(method="harmonic")), HarmonicDetector)
