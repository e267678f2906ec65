"""Scale and offset come from each item's metadata; DN 0 is nodata."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from geomon.sources import BANDS
from geomon.sources._reflectance import baseline_offset, declared_scale_offset, to_reflectance


@pytest.mark.parametrize(
    ("fields", "props", "expected"),
    [
        # Earth Search v1: raster:bands declares it
        ({"raster:bands": [{"scale": 0.0001, "offset": -0.1}]}, {}, (1e-4, -0.1)),
        # an old-baseline Earth Search item: offset 0, whatever the baseline field says
        ({"raster:bands": [{"scale": 0.0001, "offset": 0}]}, {"s2:processing_baseline": "05.10"},
         (1e-4, 0.0)),
        # STAC 1.1 bands (CDSE)
        ({"bands": [{"raster:scale": 0.0001, "raster:offset": -0.1}]}, {}, (1e-4, -0.1)),
        # nothing declared (Planetary Computer): the processing baseline decides
        ({}, {"s2:processing_baseline": "04.00"}, (1e-4, -0.1)),
        ({}, {"s2:processing_baseline": "03.01"}, (1e-4, 0.0)),
        ({}, {}, (1e-4, 0.0)),
    ],
)
def test_declared_scale_offset(fields, props, expected):
    assert declared_scale_offset(fields, props) == pytest.approx(expected)


def test_baseline_offset_ignores_junk():
    assert baseline_offset("N/A") == 0.0


def test_each_time_step_gets_its_own_offset_and_dn0_is_nan():
    dn = np.array([[[0, 1000], [2000, 3000]], [[0, 1000], [2000, 3000]]], "uint16")
    raw = xr.Dataset({b: (("time", "y", "x"), da.from_array(dn, chunks=1)) for b in BANDS})
    raw["scl"] = (("time", "y", "x"), da.from_array(np.full((2, 2, 2), 4, "uint8"), chunks=1))
    so = {b: [(1e-4, -0.1), (1e-4, 0.0)] for b in BANDS}
    out = to_reflectance(raw, so)
    assert isinstance(out.red.data, da.Array)  # still lazy
    red = out.red.values
    assert red.dtype == np.float32 and out.scl.dtype == np.uint8
    assert np.isnan(red[:, 0, 0]).all()
    np.testing.assert_allclose(red[0, 1, 1], 0.2, atol=1e-6)
    np.testing.assert_allclose(red[1, 1, 1], 0.3, atol=1e-6)
