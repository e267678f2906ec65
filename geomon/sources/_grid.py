"""The grid every source loads onto: the AOI's own UTM zone at 10 m, and request tiles of it."""

from __future__ import annotations

from odc.geo.geobox import GeoBox, GeoboxTiles
from odc.geo.geom import Geometry
from shapely.geometry import mapping

from geomon.aoi import AOI

__all__ = ["RESOLUTION_M", "aoi_geobox", "tiles"]

#: Pixel size of every cube, metres.
RESOLUTION_M = 10


def aoi_geobox(aoi: AOI) -> GeoBox:
    """The 10 m grid of ``aoi`` in its UTM zone, pixel edges on multiples of 10 m.

    It is the grid :func:`odc.stac.load` builds from the same ``geopolygon``, ``crs`` and
    ``resolution``, so every source returns cubes that line up pixel for pixel.
    """
    return GeoBox.from_geopolygon(Geometry(mapping(aoi.geometry), "EPSG:4326"),
                                  resolution=RESOLUTION_M, crs=aoi.crs)


def tiles(geobox: GeoBox, max_px: int) -> list[list[GeoBox]]:
    """Rows of sub-grids of ``geobox`` no larger than ``max_px`` on a side (row-major)."""
    t = GeoboxTiles(geobox, (max_px, max_px))
    ny, nx = t.shape.yx
    return [[t[iy, ix] for ix in range(nx)] for iy in range(ny)]
