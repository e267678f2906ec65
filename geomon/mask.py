"""Clear-sky masking from the scene classification (SCL), without erasing the signal.

SCL labels bright bare gravel, exactly what digging exposes, as cloud on some dates. A pixel that
SCL calls cloud but whose spectrum is bare ground (not bright in blue, brighter in SWIR than in
blue, as clouds are not) is kept. Cloud and shadow are then buffered to catch missed cloud edges.

Optionally a cloud probability (``cloud_prob`` in the cube: s2cloudless, see
:mod:`geomon.cloudprob`) adds the pixels at or above a threshold to the cloud, before the buffer.
The model, too, calls some bright spoil cloud (a quarter of the spoil views on the simulated
scenes), so the bare-ground guard applies to it as well, with one more test: the pixel must not be
cloud-white (:func:`coloured`), because thin cloud over dry savanna passes the bare-ground test
and is just what the model adds to SCL. The model runs at 60 m, so its cloud calls spill over
the edges of spoil; its guard is applied after the buffer, so that neither the spill nor the
buffer covers the spoil itself.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import xarray as xr

from geomon.cloudprob import CLOUD_PROB
from geomon.morphology import dilate

__all__ = ["CLEAR_CLASSES", "CLOUD_CLASSES", "clear_sky", "coloured", "in_classes"]

#: SCL classes that show the ground: dark area, vegetation, not vegetated, water, unclassified.
CLEAR_CLASSES = (2, 4, 5, 6, 7)
#: SCL classes that hide it: cloud shadow, cloud medium/high probability, thin cirrus.
CLOUD_CLASSES = (3, 8, 9, 10)


def clear_sky(
    ds: xr.Dataset, *, buffer_px: int = 2, keep_bright_ground: bool = True,
    cloud_probability_threshold: float | None = None,
) -> xr.DataArray:
    """Boolean (time, y, x) mask, True where the ground is seen clearly. Lazy.

    Parameters
    ----------
    ds
        Cube with ``scl`` and the reflectance bands ``blue`` and ``swir16`` (and ``red``,
        ``swir22`` and ``cloud_prob`` when a threshold is given).
    buffer_px
        Cloud and shadow are dilated by this many pixels of ``ds``'s grid.
    keep_bright_ground
        Keep SCL cloud (8, 9) pixels whose spectrum is bare ground rather than cloud, and
        pixels the cloud probability calls cloud whose spectrum is bare and coloured ground.
    cloud_probability_threshold
        With a ``cloud_prob`` variable in ``ds``: pixels whose probability is at least this are
        cloud too (NaN probability: SCL alone decides). None: SCL only.

    Examples
    --------
    >>> clear = clear_sky(cube, buffer_px=2)   # doctest: +SKIP
    >>> clear.sum("time")                      # clear observations per pixel  # doctest: +SKIP
    """
    scl = ds["scl"]
    cloud = in_classes(scl, CLOUD_CLASSES)
    bare = (ds["blue"] < 0.18) & (ds["swir16"] > 1.5 * ds["blue"])
    cloudy = in_classes(scl, (8, 9))
    if keep_bright_ground:
        cloud = cloud & ~(cloudy & bare)
    if buffer_px > 0:
        cloud = dilate(cloud, buffer_px)
    if cloud_probability_threshold is not None and CLOUD_PROB in ds:
        modelled = ds[CLOUD_PROB] >= cloud_probability_threshold
        if buffer_px > 0:
            modelled = dilate(modelled, buffer_px)
        if keep_bright_ground:  # after the buffer: a 60 m cloud call next to spoil spares it
            modelled = modelled & ~(bare & coloured(ds))
        cloud = cloud | modelled
    seen = in_classes(scl, CLEAR_CLASSES) | (cloudy & ~cloud)
    valid = ds["blue"].notnull() & ds["swir16"].notnull()
    return (seen & ~cloud & valid).rename("clear")


def in_classes(scl: xr.DataArray, classes: Iterable[int]) -> xr.DataArray:
    """Where ``scl`` (uint8) is one of ``classes``. Lazy. A 256-entry lookup: what
    ``scl.isin(classes)`` gives, in one pass instead of one per class."""
    table = np.zeros(256, bool)
    table[list(classes)] = True
    return xr.apply_ufunc(table.__getitem__, scl, dask="parallelized", output_dtypes=[bool])


def coloured(ds: xr.Dataset) -> xr.DataArray:
    """Not cloud-white: red at least 1.3 x blue, or SWIR-2.2 at least 0.7 x SWIR-1.6.

    Cloud, even thin over bare ground, flattens the visible spectrum (red/blue near 1) and the
    SWIR pair; iron-stained gravel and spoil keep theirs. On the simulated scenes this keeps 93%
    of the spoil views s2cloudless calls cloud while letting 82% of the thin clouds SCL misses
    through as cloud (the bare-ground test alone: 94% and 41%).
    """
    return (ds["red"] >= 1.3 * ds["blue"]) | (ds["swir22"] >= 0.7 * ds["swir16"])
