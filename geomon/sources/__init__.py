"""Imagery sources: each finds the items for an AOI and dates and loads them as a lazy cube.

Every source returns the same thing: an :class:`xarray.Dataset` with dims ``(time, y, x)`` on the
AOI's UTM grid at 10 m, one float32 variable of surface reflectance per band (scale and offset
applied from the item metadata), ``scl`` as uint8, backed by dask; plus the list of items used.
"""

from __future__ import annotations

from geomon.sources._base import BANDS, Cube, Source
from geomon.sources.stac import StacSource

__all__ = ["BANDS", "Cube", "Source", "StacSource", "make_source"]


def make_source(config) -> Source:
    """The source a pipeline's ``source`` block describes."""
    if config.kind == "stac":
        return StacSource(config)
    raise ValueError(f"unknown source kind {config.kind!r}")  # pragma: no cover - schema guards
