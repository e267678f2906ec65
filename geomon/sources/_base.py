"""The Source protocol and the cube it returns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import xarray as xr
from odc.geo.geobox import GeoBox

from geomon.aoi import AOI

#: Reflectance bands the pipeline loads (Earth Search asset names), and the scene classification:
#: what the composites, the mask and the detectors read, and nothing more (no ``nir08``, B8A).
BANDS: tuple[str, ...] = ("blue", "green", "red", "nir", "swir16", "swir22")
SCL = "scl"


@dataclass(frozen=True)
class Cube:
    """A lazy image cube and where it came from.

    ``data`` holds reflectance bands (float32) and ``scl`` (uint8) on dims (time, y, x), and
    ``cloud_prob`` (float32, 0-1) when a cloud probability was asked for.
    ``items`` lists, per item used, its id, datetime, cloud cover, platform and processing
    baseline, for the manifest. ``skipped`` lists the assets that could not be read after
    retries (``id``, ``asset``, ``datetime``, ``reason``); read failures met while the cube is
    computed are appended to it, so read it after computing. ``loader`` loads the same
    acquisitions onto another grid (a window of the AOI's), with no new search or asset check:
    what :meth:`window` calls to process an AOI tile by tile.
    """

    data: xr.Dataset
    items: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    loader: Callable[[GeoBox], xr.Dataset] | None = field(default=None, repr=False)

    def window(self, geobox: GeoBox) -> xr.Dataset:
        """The same acquisitions, lazily, on ``geobox`` (a window of ``data``'s grid)."""
        from odc.geo.xr import xr_coords  # noqa: F401 - registers the .odc accessor

        whole = self.data.odc.geobox
        if geobox == whole:  # an AOI of one tile: the graph already built
            return self.data
        if self.loader is None:
            bbox = whole.overlap_roi(geobox)
            return self.data.isel(y=bbox[0], x=bbox[1])
        return self.loader(geobox)


class Source(Protocol):
    """Finds and loads imagery for an AOI."""

    def load(self, aoi: AOI, start: date, end: date, *, chunk_px: int,
             cloud_probability: bool = False,
             periods: Sequence[tuple[date, date]] = ()) -> Cube:
        """Lazy cube of all acquisitions over ``aoi`` between ``start`` and ``end`` inclusive.

        With ``cloud_probability`` the cube also holds ``cloud_prob`` (0-1, NaN where unknown;
        see :mod:`geomon.cloudprob`), or the source raises a :class:`GeomonError` naming
        ``mask.cloud_probability`` when it cannot provide one. ``periods`` ((first, last day)
        of each period the cube will be reduced over) lets a source chunk the time axis by
        period, so each period's stack is read in one piece; the values do not depend on it.
        """
        ...
