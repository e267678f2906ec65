"""Spectral indices of bare ground, vegetation and water, from reflectance bands.

Each index is a normalised difference or ratio, lazy when its inputs are. Names follow the
usual literature: NDVI (vegetation), BSI (bare soil), MNDWI (open water, Xu 2006), NDWI
(McFeeters 1996), a red/green turbidity ratio for water in pits, NBR (burn scars) and a red/blue
redness that tells grey quartz gravel from red laterite.
"""

from __future__ import annotations

import xarray as xr

__all__ = ["add_indices", "bsi", "mndwi", "nbr", "ndvi", "ndwi", "redness", "turbidity"]


def _nd(a: xr.DataArray, b: xr.DataArray) -> xr.DataArray:
    return (a - b) / (a + b)


def ndvi(ds: xr.Dataset) -> xr.DataArray:
    return _nd(ds["nir"], ds["red"])


def bsi(ds: xr.Dataset) -> xr.DataArray:
    """Bare soil index: ((SWIR1 + red) − (NIR + blue)) / ((SWIR1 + red) + (NIR + blue))."""
    return _nd(ds["swir16"] + ds["red"], ds["nir"] + ds["blue"])


def mndwi(ds: xr.Dataset) -> xr.DataArray:
    return _nd(ds["green"], ds["swir16"])


def ndwi(ds: xr.Dataset) -> xr.DataArray:
    return _nd(ds["green"], ds["nir"])


def nbr(ds: xr.Dataset) -> xr.DataArray:
    """Normalised burn ratio (NIR vs SWIR-2.2): low over fresh burn scars."""
    return _nd(ds["nir"], ds["swir22"])


def redness(ds: xr.Dataset) -> xr.DataArray:
    """(red − blue)/(red + blue): about 0.2 on quartz gravel and spoil, above 0.3 on laterite."""
    return _nd(ds["red"], ds["blue"])


def turbidity(ds: xr.Dataset) -> xr.DataArray:
    """Red/green ratio: above about 1 for sediment-laden (turbid) water, below for clear water."""
    return ds["red"] / ds["green"]


_ALL = {"ndvi": ndvi, "bsi": bsi, "mndwi": mndwi, "ndwi": ndwi, "nbr": nbr, "redness": redness,
        "turbidity": turbidity}


def add_indices(ds: xr.Dataset, names: tuple[str, ...] = tuple(_ALL)) -> xr.Dataset:
    """``ds`` with the named indices added as float32 variables."""
    return ds.assign({n: _ALL[n](ds).astype("float32") for n in names})
