"""Upsampling a coarse raster onto a finer grid aligned with it, lazily and block by block.

Sentinel-2's 20 m bands (``swir16``, ``swir22``, ``scl``) end up on the AOI's 10 m
grid. GDAL's warper does that upsampling at several times the cost of reading the band
(:mod:`geomon.sources._native`), so the sources read such bands at their own resolution and
upsample here, with the same result:

- nearest neighbour: each coarse pixel repeated ``factor`` × ``factor`` times;
- bilinear, for a factor of 2: each 10 m pixel centre lies a quarter of a 20 m pixel from the
  nearest 20 m centre, so along each axis it is ``¾`` of that pixel plus ``¼`` of the next one
  out. As in GDAL's warper, a pixel is ``nodata`` where the coarse pixel under its centre is;
  elsewhere ``nodata`` neighbours carry no weight and the others' weights are renormalised;
  integer results are rounded half up. The weights are sixteenths, so integer sums are exact
  and the result equals GDAL's bit for bit (``tests/unit/test_resample.py``).
"""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

__all__ = ["upsample"]


def upsample(arr: xr.DataArray, factor: int, rows: slice, cols: slice, coords: dict[str, Any],
             *, bilinear: bool = False, nodata: float | None = None,
             chunks: tuple[int, int] | None = None) -> xr.DataArray:
    """``arr`` upsampled ``factor`` times along ``y`` and ``x``, then cut to ``rows``, ``cols``.

    Parameters
    ----------
    arr
        (..., y, x), dask-backed, on a grid ``factor`` times coarser than the target, with pixel
        edges on the target's pixel edges.
    factor
        Ratio of the resolutions (2 for bilinear).
    rows, cols
        Window of the upsampled grid that is the target grid, in target pixels. For bilinear,
        leave at least one coarse pixel of ``arr`` beyond the window on every side: the
        outermost coarse pixels are only read as neighbours.
    coords
        The target's ``y``, ``x`` (and ``spatial_ref``) coordinates.
    bilinear
        Bilinear interpolation (GDAL's, see the module notes); else nearest neighbour.
    nodata
        Value of pixels without data (bilinear only: they carry no weight).
    chunks
        (y, x) chunk size of the result; default: ``factor`` times ``arr``'s.

    Examples
    --------
    >>> fine = upsample(swir_20m, 2, slice(3, 1021), slice(3, 1021), coords,  # doctest: +SKIP
    ...                 bilinear=True, nodata=0, chunks=(1024, 1024))
    """
    data = arr.data
    lead, (ny, nx) = data.ndim - 2, data.chunks[-2:]
    scaled = (*data.chunks[:lead], tuple(c * factor for c in ny), tuple(c * factor for c in nx))
    if bilinear:
        if factor != 2:
            raise ValueError(f"bilinear upsampling is implemented for a factor of 2, not {factor}")
        # the halo beyond the array's edge repeats the edge: what is upsampled from it lies
        # outside the window, so it only has to keep the edge's blocks on the fast path
        up = da.map_overlap(_bilinear2, data, depth={lead: 1, lead + 1: 1},
                            boundary="nearest", trim=False, chunks=scaled, dtype=data.dtype,
                            nodata=nodata)
    else:
        up = data.map_blocks(_repeat, factor, chunks=scaled, dtype=data.dtype)
    up = up[..., rows, cols]
    if chunks is not None:
        up = up.rechunk({lead: chunks[0], lead + 1: chunks[1]})
    dims = (*arr.dims[:lead], "y", "x")
    lead_coords = {d: arr[d] for d in dims[:lead] if d in arr.coords}
    return xr.DataArray(up, dims=dims, coords={**lead_coords, **coords}, name=arr.name,
                        attrs=arr.attrs)


def _repeat(block: np.ndarray, factor: int) -> np.ndarray:
    return np.repeat(np.repeat(block, factor, axis=-2), factor, axis=-1)


def _bilinear2(block: np.ndarray, nodata: float | None) -> np.ndarray:
    """Twice as many pixels along the last two axes; ``block`` has a one-pixel halo there,
    which is read as neighbours and not upsampled. One image (along the leading axes) at a
    time: the exact accumulators are twice as wide as the data and four times as many, so a
    whole period's block of them would be several times the block's size (one at a time is
    2.7 times faster on 19 images of 524 x 524, with the same result)."""
    flat = block.reshape(-1, *block.shape[-2:])
    out = np.empty((flat.shape[0], 2 * (flat.shape[1] - 2), 2 * (flat.shape[2] - 2)),
                   block.dtype)
    for i in range(flat.shape[0]):
        out[i:i + 1] = _bilinear2_images(flat[i:i + 1], nodata)
    return out.reshape(*block.shape[:-2], *out.shape[1:])


def _bilinear2_images(block: np.ndarray, nodata: float | None) -> np.ndarray:
    """:func:`_bilinear2` of a (image, y, x) block, at once."""
    # exact accumulators: 16 × a 16-bit value fits 32 bits
    wide = {"f": np.float64, "u": np.uint32 if block.itemsize <= 2 else np.uint64}.get(
        block.dtype.kind, np.int64)
    out = _rounded(_sixteenths(block.astype(wide)), 16, block.dtype)
    if nodata is None:
        return out
    # images (along the leading axes) with nodata: weights renormalised over the valid
    # neighbours, and nodata where the pixel under the centre is
    flat, result = block.reshape(-1, *block.shape[-2:]), out.reshape(-1, *out.shape[-2:])
    for i in np.flatnonzero((flat == nodata).any(axis=(1, 2))):
        valid = flat[i] != nodata
        total = _sixteenths(np.where(valid, flat[i], 0).astype(wide))
        weight = _sixteenths(valid.astype(wide))
        under = _repeat(valid[1:-1, 1:-1], 2)
        result[i] = np.where(under, _rounded(total, np.where(under, weight, 1), block.dtype),
                             nodata)
    return out


def _rounded(total: np.ndarray, weight: np.ndarray | int, dtype: np.dtype) -> np.ndarray:
    """``total / weight`` in ``dtype``; rounded half up for integers, as GDAL does."""
    if dtype.kind == "f":
        return (total / weight).astype(dtype)
    if isinstance(weight, int):  # a power of two: exact in integers
        total += weight // 2
        return (total // weight).astype(dtype)
    return np.floor(total / weight + 0.5).astype(dtype)


def _sixteenths(v: np.ndarray) -> np.ndarray:
    """16 × the bilinear ×2 upsampling of a halo'd array: along each of the last two axes,
    inner pixel ``m`` becomes ``v[m-1] + 3 v[m]`` and ``3 v[m] + v[m+1]`` (exact in integers)."""
    for axis in (v.ndim - 2, v.ndim - 1):
        def at(part: slice, axis: int = axis) -> tuple[slice, ...]:
            return (*[slice(None)] * axis, part)

        n = v.shape[axis]
        here = 3 * v[at(slice(1, n - 1))]
        out = np.empty((*here.shape[:axis], 2 * (n - 2), *here.shape[axis + 1:]), v.dtype)
        np.add(v[at(slice(0, n - 2))], here, out=out[at(slice(0, None, 2))])
        np.add(here, v[at(slice(2, n))], out=out[at(slice(1, None, 2))])
        v = out
    return v
