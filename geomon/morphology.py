"""Binary morphology on the last two (y, x) dims of lazy or in-memory arrays."""

from __future__ import annotations

import dask.array as da
import numpy as np
import xarray as xr
from scipy import ndimage

__all__ = ["dilate", "disk", "grow_within"]


def disk(px: int) -> np.ndarray:
    """A round structuring element of radius ``px`` pixels."""
    yy, xx = np.ogrid[-px : px + 1, -px : px + 1]
    return yy**2 + xx**2 <= px**2


#: Structuring elements of one step: 4-connected (a cross) or 8-connected (a square).
_STEP = {4: ndimage.generate_binary_structure(2, 1), 8: ndimage.generate_binary_structure(2, 2)}


def dilate(mask: xr.DataArray, px: int) -> xr.DataArray:
    """Grow True areas of ``mask`` by ``px`` pixels in y and x (a disk), per leading index.

    Works block by block with an overlap of ``px`` on dask arrays, so it stays lazy.
    """
    if px <= 0:
        return mask
    lead = mask.ndim - 2

    def grow(block: np.ndarray) -> np.ndarray:
        if px < _EDT_FROM_PX:
            return _shifted_or(block, px)
        return _within_distance(block, px)

    data = mask.data
    if isinstance(data, da.Array):
        depth = {i: 0 for i in range(lead)} | {lead: px, lead + 1: px}
        out = data.map_overlap(grow, depth=depth, boundary=False, dtype=bool)
    else:
        out = grow(np.asarray(data))
    return mask.copy(data=out)


#: From this radius on, :func:`dilate` measures distances instead of sliding the disk: the same
#: pixels, in time that does not grow with the radius (a 20 px disk on a 1,000 px grid: 0.56 s
#: of binary dilation against 0.04 s of distance transform).
_EDT_FROM_PX = 5


def _shifted_or(block: np.ndarray, px: int) -> np.ndarray:
    """The dilation by :func:`disk` (``px``) of each 2-D slice, with False beyond the block's
    edge, as the OR of the block shifted by each of the disk's offsets: for the small radii of
    cloud buffers, 5-8 times faster than ``ndimage.binary_dilation`` (radius 2 on 18 dates of
    1,022 px: 0.08 s against 0.40 s)."""
    h, w = block.shape[-2:]
    padded = np.zeros((*block.shape[:-2], h + 2 * px, w + 2 * px), bool)
    padded[..., px:px + h, px:px + w] = block
    out = np.zeros(block.shape, bool)
    for dy, dx in np.argwhere(disk(px)):
        out |= padded[..., dy:dy + h, dx:dx + w]
    return out


def _within_distance(block: np.ndarray, px: int) -> np.ndarray:
    """Pixels at most ``px`` away (Euclidean, centre to centre) from a True pixel of ``block``,
    per 2-D slice: the dilation by :func:`disk` (``px``), with False beyond the block's edge."""
    out = np.zeros(block.shape, bool)
    for index in np.ndindex(block.shape[:-2]):
        plane = block[index]
        if plane.any():
            distance = ndimage.distance_transform_edt(~plane)
            out[index] = distance * distance <= px * px + 0.5  # squared distances are integers
    return out


def grow_within(seed: xr.DataArray, allowed: xr.DataArray, px: int, *,
                connectivity: int = 8) -> xr.DataArray:
    """Grow ``seed`` by at most ``px`` steps, each step only into ``allowed`` pixels.

    A geodesic dilation (hysteresis): a pixel joins when a chain of at most ``px`` allowed
    pixels links it to the seed, 4- or 8-connected. Per leading index; block by block with an
    overlap of ``px`` on dask arrays, so it stays lazy and tiles give the whole grid's answer.

    Parameters
    ----------
    seed, allowed
        Boolean arrays of the same shape, ``(..., y, x)``.
    px
        Most steps away from the seed (0 returns ``seed``).
    connectivity
        4 or 8.

    Returns
    -------
    xarray.DataArray
        ``seed`` plus the allowed pixels it reached.
    """
    if px <= 0:
        return seed
    lead = seed.ndim - 2
    structure = _STEP[connectivity].reshape((1,) * lead + (3, 3))

    def grow(block: np.ndarray, ok: np.ndarray) -> np.ndarray:
        return ndimage.binary_dilation(block, structure=structure, iterations=px,
                                       mask=ok | block)

    a, b = seed.data, allowed.broadcast_like(seed).data
    if isinstance(a, da.Array) or isinstance(b, da.Array):
        a, b = da.asarray(a), da.asarray(b).rechunk(da.asarray(a).chunks)
        depth = {i: 0 for i in range(lead)} | {lead: px, lead + 1: px}
        out = da.map_overlap(grow, a, b, depth=depth, boundary=False, dtype=bool)
    else:
        out = grow(np.asarray(a), np.asarray(b))
    return seed.copy(data=out)
