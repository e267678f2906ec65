"""Binary morphology on the last two (y, x) dims of lazy or in-memory arrays."""

from __future__ import annotations

import dask.array as da
import numpy as np
import xarray as xr
from scipy import ndimage

__all__ = ["dilate", "disk"]


def disk(px: int) -> np.ndarray:
    """A round structuring element of radius ``px`` pixels."""
    yy, xx = np.ogrid[-px : px + 1, -px : px + 1]
    return yy**2 + xx**2 <= px**2


def dilate(mask: xr.DataArray, px: int) -> xr.DataArray:
    """Grow True areas of ``mask`` by ``px`` pixels in y and x (a disk), per leading index.

    Works block by block with an overlap of ``px`` on dask arrays, so it stays lazy.
    """
    if px <= 0:
        return mask
    lead = mask.ndim - 2
    structure = disk(px).reshape((1,) * lead + (2 * px + 1, 2 * px + 1))

    def grow(block: np.ndarray) -> np.ndarray:
        return ndimage.binary_dilation(block, structure=structure)

    data = mask.data
    if isinstance(data, da.Array):
        depth = {i: 0 for i in range(lead)} | {lead: px, lead + 1: px}
        out = data.map_overlap(grow, depth=depth, boundary=False, dtype=bool)
    else:
        out = grow(np.asarray(data))
    return mask.copy(data=out)
