"""Per-period composites: the median of clear observations, with the clear count as quality layer.

A median of clear-sky pixels is robust to the residual cloud and shadow a mask misses, as long as
they are a minority of a pixel's observations in the period.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from geomon.config import Period

__all__ = ["nanmedian_time", "period_composites"]


def period_composites(
    ds: xr.Dataset,
    clear: xr.DataArray,
    periods: Sequence[Period],
    *,
    bands: Sequence[str],
    fractions: Mapping[str, xr.DataArray] | None = None,
    sums: Mapping[str, xr.DataArray] | None = None,
) -> xr.Dataset:
    """Median of clear observations of ``bands`` per period. Lazy.

    Returns a Dataset with dims ``(period, y, x)``: one float32 variable per band (NaN where a pixel
    had no clear observation), ``clear_count`` (int16) and ``n_acquisitions`` per period. Each
    boolean (time, y, x) layer in ``fractions`` becomes ``<name>_frac``: the share of a pixel's
    clear observations in the period where the layer is True (how much of the period a pixel
    looked like, say, fresh spoil), NaN where there was none. Each float (time, y, x) layer in
    ``sums`` (dims may broadcast, e.g. a function of ``time`` only) becomes ``<name>_sum``: its
    float64 sum over the period's clear observations, 0 where there was none (the sufficient
    statistics of a per-pixel regression, say).

    Examples
    --------
    >>> comp = period_composites(cube, clear, periods, bands=["red", "nir"])  # doctest: +SKIP
    >>> comp.red.sel(period="2024Q2")                                         # doctest: +SKIP
    """
    parts = []
    for p in periods:
        window = slice(np.datetime64(p.start), np.datetime64(p.end) + np.timedelta64(1, "D"))
        sub = ds[list(bands)].sel(time=window)
        ok = clear.sel(time=window)
        if sub.sizes["time"] == 0:
            empty = xr.full_like(ds[list(bands)].isel(time=0, drop=True), np.nan, dtype="float32")
            comp = empty.assign(clear_count=xr.zeros_like(empty[bands[0]], dtype="int16"))
            for name in fractions or {}:
                comp[f"{name}_frac"] = empty[bands[0]]
            for name in sums or {}:
                comp[f"{name}_sum"] = xr.zeros_like(empty[bands[0]], dtype="float64")
        else:
            comp = nanmedian_time(sub.chunk(time=-1), ok.chunk(time=-1))
            count = ok.sum("time")
            comp["clear_count"] = count.astype("int16")
            for name, layer in (fractions or {}).items():
                hits = (layer.sel(time=window) & ok).sum("time")
                comp[f"{name}_frac"] = (hits / count.where(count > 0)).astype("float32")
            for name, layer in (sums or {}).items():
                part = layer.sel(time=window).astype("float64")
                comp[f"{name}_sum"] = part.where(ok, 0.0).sum("time").transpose(*ok.dims[1:])
        parts.append(comp.assign_coords(n_acquisitions=sub.sizes["time"]))
    index = pd.Index([p.label for p in periods], name="period")
    out = xr.concat(parts, dim=index, coords="different", compat="equals")
    out = out.assign_coords(
        period_start=("period", [np.datetime64(p.start) for p in periods]),
        period_end=("period", [np.datetime64(p.end) for p in periods]),
    )
    return out


def nanmedian_time(ds: xr.Dataset, clear: xr.DataArray | None = None) -> xr.Dataset:
    """Median over ``time`` of each variable, ignoring NaN (NaN where all are NaN). Lazy.

    With ``clear`` (boolean, the variables' dims), only the values where it is True count: the
    median of ``ds.where(clear)``, without that masked copy of the cube ever existing.

    The same values as ``ds.where(clear).median("time", skipna=True)`` (without ``clear``,
    ``ds.median``) in float32, about five times faster: NaN sorts last, so the median of a
    pixel's ``n`` valid values is read off the sorted series at ``(n - 1) // 2`` and
    ``n // 2``, with no masked arrays. Each block is read with ``time`` first, as the cube
    stores it, and masked and transposed a few rows at a time into a copy that is sorted in
    place.
    """
    def median(var: xr.DataArray) -> xr.DataArray:
        var = var.transpose("time", ...)
        blocks = [var] if clear is None else [var, clear.transpose(*var.dims)]
        blocks = [b.data.rechunk({0: -1}) for b in blocks]
        data = da.map_blocks(_nanmedian_first, *blocks, drop_axis=0, dtype=np.float32)
        return xr.DataArray(data, dims=var.dims[1:],
                            coords={k: c for k, c in var.coords.items() if "time" not in c.dims},
                            attrs=var.attrs)

    return ds.map(median, keep_attrs=True)


def _nanmedian_first(a: np.ndarray, ok: np.ndarray | None = None, rows: int = 32) -> np.ndarray:
    """Median over the first axis, ignoring NaN and values where ``ok`` (same shape) is False,
    of a (time, y, ...) block, ``rows`` lines of ``y`` at a time (their transposed copy stays
    in the CPU cache: 20-25% faster; and no masked copy of the whole block is made)."""
    if a.ndim > 2 and a.shape[1] > rows:
        out = np.empty(a.shape[1:], np.float32)
        for r in range(0, a.shape[1], rows):
            strip = np.s_[:, r:r + rows]
            out[r:r + rows] = _nanmedian_first(a[strip], None if ok is None else ok[strip], rows)
        return out
    if ok is not None:
        a = np.where(ok, a, np.float32(np.nan))
    ordered = np.moveaxis(a, 0, -1).astype(np.float32, order="C")  # each series contiguous
    n = np.count_nonzero(~np.isnan(ordered), axis=-1)
    ordered.sort(axis=-1)
    lo = np.take_along_axis(ordered, np.maximum((n - 1) // 2, 0)[..., None], -1)[..., 0]
    hi = np.take_along_axis(ordered, np.maximum(n // 2, 0)[..., None], -1)[..., 0]
    mid = (lo + hi) / np.float32(2)
    return np.where(n > 0, mid, np.float32(np.nan)).astype(np.float32)
