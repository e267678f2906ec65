"""Imagery sources: each finds the items for an AOI and dates and loads them as a lazy cube.

Every source returns the same thing: an :class:`xarray.Dataset` with dims ``(time, y, x)`` on the
AOI's UTM grid at 10 m, one float32 variable of surface reflectance per band (scale and offset
applied from the item metadata), ``scl`` as uint8, backed by dask; plus the list of items used
and the assets that could not be read (:class:`Cube`).

- ``stac`` (:mod:`geomon.sources.stac`): STAC API or static catalog, read with odc-stac.
- ``sentinelhub`` (:mod:`geomon.sources.sentinelhub`): Sentinel Hub Catalog + Process APIs.
- ``local`` (:mod:`geomon.sources.local`): a folder of GeoTIFF/COG files.
"""

from __future__ import annotations

from typing import Any

from geomon.sources._base import BANDS, SCL, Cube, Source
from geomon.sources.stac import StacSource, reflectance

__all__ = ["BANDS", "SCL", "Cube", "Source", "StacSource", "make_source", "reflectance"]


def make_source(config: Any) -> Source:
    """The source a pipeline's ``source`` block describes."""
    if config.kind == "stac":
        return StacSource(config)
    if config.kind == "sentinelhub":
        from geomon.sources.sentinelhub import SentinelHubSource

        return SentinelHubSource(config)
    if config.kind == "local":
        from geomon.sources.local import LocalSource

        return LocalSource(config)
    raise ValueError(f"unknown source kind {config.kind!r}")  # pragma: no cover - schema guards
