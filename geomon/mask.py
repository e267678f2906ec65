"""Clear-sky masking from the scene classification (SCL), without erasing the signal.

SCL labels bright bare gravel, exactly what digging exposes, as cloud on some dates. A pixel that
SCL calls cloud but whose spectrum is bare ground (not bright in blue, brighter in SWIR than in
blue, as clouds are not) is kept. Cloud and shadow are then buffered to catch missed cloud edges.

Optionally a cloud probability (``cloud_prob`` in the cube: s2cloudless, see
:mod:`geomon.cloudprob`) adds the pixels at or above a threshold to the cloud, before the buffer.
The model, too, calls some bright spoil cloud, so the same bare-ground guard applies to it.
"""

from __future__ import annotations

import xarray as xr

from geomon.cloudprob import CLOUD_PROB
from geomon.morphology import dilate

__all__ = ["CLEAR_CLASSES", "CLOUD_CLASSES", "clear_sky"]

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
        Cube with ``scl`` and the reflectance bands ``blue`` and ``swir16``.
    buffer_px
        Cloud and shadow are dilated by this many pixels of ``ds``'s grid.
    keep_bright_ground
        Keep SCL cloud (8, 9) pixels, and pixels the cloud probability calls cloud, whose
        spectrum is bare ground rather than cloud.
    cloud_probability_threshold
        With a ``cloud_prob`` variable in ``ds``: pixels whose probability is at least this are
        cloud too (NaN probability: SCL alone decides). None: SCL only.

    Examples
    --------
    >>> clear = clear_sky(cube, buffer_px=2)   # doctest: +SKIP
    >>> clear.sum("time")                      # clear observations per pixel  # doctest: +SKIP
    """
    scl = ds["scl"]
    cloud = scl.isin(CLOUD_CLASSES)
    guarded = scl.isin((8, 9))  # classes that bare ground is mistaken for
    if cloud_probability_threshold is not None and CLOUD_PROB in ds:
        modelled = ds[CLOUD_PROB] >= cloud_probability_threshold
        cloud = cloud | modelled
        guarded = guarded | (modelled & ~scl.isin((3, 10)))  # not SCL shadow or cirrus
    if keep_bright_ground:
        blue, swir = ds["blue"], ds["swir16"]
        ground = guarded & (blue < 0.18) & (swir > 1.5 * blue)
        cloud = cloud & ~ground
    if buffer_px > 0:
        cloud = dilate(cloud, buffer_px)
    seen = scl.isin(CLEAR_CLASSES) | (scl.isin((8, 9)) & ~cloud)
    valid = ds["blue"].notnull() & ds["swir16"].notnull()
    return (seen & ~cloud & valid).rename("clear")
