"""Thresholds of the per-period tests: fixed from the config, or adapted to each AOI's statistics.

Only tests that a detector applies to the stored per-period composites adapt; the per-view tests
(``ndvi_bare``, ``spoil_blue``, ``bright_swir16`` in the spoil share) stay fixed, because their
results are stored with the composites and reused by later runs (:mod:`geomon.cache`).

``thresholds: adaptive`` sets the NDVI below which a pixel at a site's border counts as dug
(:func:`edge_ndvi`) from the AOI's own ground in that period: a mixed pixel that is at least
``edge_mix`` spoil has an NDVI below ``GRAVEL_NDVI + (1 − edge_mix) × (background −
GRAVEL_NDVI)``, the background being the median NDVI of the AOI's observed pixels. Green
savanna in the wet season lets more of a border in; dry grass, or a semi-arid AOI, less. The
value is clipped to ``ndvi_bare ± EDGE_NDVI_SPAN``. ``thresholds: fixed`` uses ``ndvi_bare +
edge_ndvi_margin`` everywhere.

A border pixel must also have the colour of the spoil it borders (:func:`edge_redness`; pit
water is exempt): no redder, as (red − blue)/(red + blue), than the period's spoil (its median
over the AOI's pixels that are mostly spoil) plus ``edge_redness_margin``; with ``fixed``
thresholds, or in a period with no spoil, than :data:`GRAVEL_REDNESS` plus the margin. Quartz
gravel is nearly grey, while a laterite road or tilled soil next to a site is red: on the
simulator benchmark their pixels have a redness above 0.3 against 0.18-0.23 for spoil and mixed
border pixels.

The AOI statistics are lazy whole-grid reductions (histograms, so memory stays that of a tile),
the same however the grid is tiled.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import xarray as xr

__all__ = [
    "EDGE_NDVI_SPAN",
    "GRAVEL_NDVI",
    "GRAVEL_REDNESS",
    "aoi_quantile",
    "edge_ndvi",
    "edge_redness",
]

#: NDVI of fresh quartz gravel and spoil (about 0.1 in Sentinel-2 L2A).
GRAVEL_NDVI = 0.1
#: (red − blue)/(red + blue) of fresh quartz gravel and spoil (red/blue about 1.5).
GRAVEL_REDNESS = 0.2
#: Adaptive edge thresholds stay within ``ndvi_bare`` ± this.
EDGE_NDVI_SPAN = 0.15
#: Histogram bins over NDVI's range [-1, 1] for AOI quantiles (0.005 NDVI wide).
_BINS = 400


def aoi_quantile(values: xr.DataArray, q: float) -> xr.DataArray:
    """Per period, the ``q`` quantile of ``values`` (NDVI-like, in [-1, 1]) over ``y, x``.

    NaN pixels (unobserved) are left out; a period with none gives NaN. Computed from a
    histogram of :data:`_BINS` bins, so it is lazy and needs no whole-grid chunk.

    Parameters
    ----------
    values
        ``(period, y, x)`` array.
    q
        Quantile in [0, 1].

    Returns
    -------
    xarray.DataArray
        ``(period,)`` float64.
    """
    edges = np.linspace(-1.0, 1.0, _BINS + 1)
    out = []
    for i in range(values.sizes["period"]):
        v = da.asarray(values.isel(period=i, drop=True).data)
        counts, _ = da.histogram(da.where(da.isnan(v), -9.0, v), bins=edges)
        out.append(_quantile(counts, edges, q))
    return xr.DataArray(da.stack(out), dims=("period",), coords={"period": values.period})


def _quantile(counts: da.Array, edges: np.ndarray, q: float) -> da.Array:
    """The ``q`` quantile of a lazy histogram (linear within the bin), NaN when empty."""

    def find(c: np.ndarray) -> np.ndarray:
        total = c.sum()
        if total == 0:
            return np.array(np.nan)
        cum = np.cumsum(c) / total
        k = int(np.searchsorted(cum, q))
        below = cum[k - 1] if k else 0.0
        share = (q - below) / (cum[k] - below) if cum[k] > below else 0.0
        return np.array(edges[k] + share * (edges[k + 1] - edges[k]))

    return counts.map_blocks(find, drop_axis=0, dtype="float64", chunks=())


def edge_ndvi(ndvi: xr.DataArray, c) -> xr.DataArray:
    """Per period, the NDVI below which a pixel next to digging counts as dug (module docstring).

    Parameters
    ----------
    ndvi
        ``(period, y, x)`` NDVI of the composites, NaN where unobserved.
    c
        :class:`geomon.config.DetectionConfig` (``thresholds``, ``ndvi_bare``,
        ``edge_ndvi_margin``, ``edge_mix``).

    Returns
    -------
    xarray.DataArray
        ``(period,)`` thresholds, lazy.
    """
    if c.thresholds == "fixed":
        fixed = np.full(ndvi.sizes["period"], c.ndvi_bare + c.edge_ndvi_margin)
        return xr.DataArray(fixed, dims=("period",), coords={"period": ndvi.period},
                            name="edge_ndvi")
    background = aoi_quantile(ndvi, 0.5)
    mixed = GRAVEL_NDVI + (1 - c.edge_mix) * (background - GRAVEL_NDVI)
    fallback = c.ndvi_bare + c.edge_ndvi_margin
    return mixed.fillna(fallback).clip(c.ndvi_bare - EDGE_NDVI_SPAN,
                                       c.ndvi_bare + EDGE_NDVI_SPAN).rename("edge_ndvi")


def edge_redness(red: xr.DataArray, spoil: xr.DataArray, c) -> xr.DataArray:
    """Per period, the redness above which a pixel next to digging is not dug (module docstring).

    Parameters
    ----------
    red
        ``(period, y, x)`` :func:`geomon.indices.redness` of the composites, NaN where
        unobserved.
    spoil
        ``(period, y, x)`` boolean: pixels that were mostly spoil in the period.
    c
        :class:`geomon.config.DetectionConfig` (``thresholds``, ``edge_redness_margin``).

    Returns
    -------
    xarray.DataArray
        ``(period,)`` thresholds, lazy.
    """
    if c.thresholds == "fixed":
        reference = xr.DataArray(np.full(red.sizes["period"], GRAVEL_REDNESS),
                                 dims=("period",), coords={"period": red.period})
    else:
        reference = aoi_quantile(red.where(spoil), 0.5).fillna(GRAVEL_REDNESS)
    return (reference + c.edge_redness_margin).rename("edge_redness")
