"""The simulated scene's pixel grid: UTM zone, 10 m / 20 m transforms, footprint and MGRS tile."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import Polygon

#: Sentinel-2 tile grids are aligned to 60 m (the coarsest band), so snap the grid's corner to it.
SNAP_M = 60.0
#: Pixel size of the 10 m bands, in metres.
RES_M = 10.0

_BANDS = "CDEFGHJKLMNPQRSTUVWX"  # MGRS latitude bands, 8 degrees each from 80 S
_COLUMN_SETS = ("STUVWXYZ", "ABCDEFGH", "JKLMNPQR")  # indexed by zone % 3
_ROWS = "ABCDEFGHJKLMNPQRSTUV"


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 / UTM zone containing ``(lon, lat)``.

    Examples
    --------
    >>> utm_epsg(-6.7, 8.0), utm_epsg(32.3, -19.9)
    (32629, 32736)
    """
    zone = min(60, int((lon + 180.0) // 6.0) + 1)
    return (32600 if lat >= 0 else 32700) + zone


def mgrs_tile(lon: float, lat: float) -> tuple[int, str, str]:
    """MGRS grid zone and 100 km square (the Sentinel-2 tile) containing ``(lon, lat)``.

    Returns
    -------
    tuple
        ``(utm_zone, latitude_band, grid_square)``, e.g. ``(31, "U", "DQ")`` for Paris.

    Examples
    --------
    >>> mgrs_tile(2.35, 48.85)
    (31, 'U', 'DQ')
    """
    epsg = utm_epsg(lon, lat)
    zone = epsg % 100
    band = _BANDS[min(len(_BANDS) - 1, int((lat + 80.0) // 8.0))]
    to_utm = Transformer.from_crs(4326, epsg, always_xy=True)
    easting, northing = to_utm.transform(lon, lat)
    column = _COLUMN_SETS[zone % 3][int(easting // 100_000) - 1]
    row_index = int(northing // 100_000) % 20
    if zone % 2 == 0:
        row_index = (row_index + 5) % 20
    return zone, band, column + _ROWS[row_index]


@dataclass(frozen=True)
class Grid:
    """A square north-up UTM grid of ``size`` x ``size`` pixels of 10 m.

    Attributes
    ----------
    epsg
        EPSG code of the UTM zone.
    size
        Pixels per side at 10 m; the 20 m assets have ``size // 2`` pixels per side.
    x0, y0
        Upper-left corner in metres (multiples of 60 m).
    """

    epsg: int
    size: int
    x0: float
    y0: float

    @property
    def transform(self) -> tuple[float, float, float, float, float, float]:
        """Affine of the 10 m grid in rasterio order ``(a, b, c, d, e, f)``."""
        return (RES_M, 0.0, self.x0, 0.0, -RES_M, self.y0)

    @property
    def transform20(self) -> tuple[float, float, float, float, float, float]:
        """Affine of the 20 m grid covering the same extent."""
        return (2 * RES_M, 0.0, self.x0, 0.0, -2 * RES_M, self.y0)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)`` in the UTM CRS."""
        span = self.size * RES_M
        return (self.x0, self.y0 - span, self.x0 + span, self.y0)

    @property
    def crs(self) -> str:
        return f"EPSG:{self.epsg}"

    def utm_to_lonlat(self, geom: shapely.Geometry) -> shapely.Geometry:
        """Reproject a shapely geometry from the grid's UTM CRS to EPSG:4326."""
        tr = Transformer.from_crs(CRS.from_epsg(self.epsg), CRS.from_epsg(4326), always_xy=True)
        return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))

    def footprint_lonlat(self, densify: int = 8) -> Polygon:
        """Lon/lat outline of the grid, counter-clockwise, with ``densify`` points per edge."""
        xmin, ymin, xmax, ymax = self.bounds
        box = shapely.segmentize(shapely.box(xmin, ymin, xmax, ymax), (xmax - xmin) / densify)
        return shapely.geometry.polygon.orient(self.utm_to_lonlat(box), 1.0)


def make_grid(lon: float, lat: float, size: int) -> Grid:
    """The ``size`` x ``size`` 10 m grid centred on ``(lon, lat)`` in its UTM zone.

    The upper-left corner is snapped to a multiple of 60 m, like the Sentinel-2 tile grid.
    """
    epsg = utm_epsg(lon, lat)
    to_utm = Transformer.from_crs(4326, epsg, always_xy=True)
    cx, cy = to_utm.transform(lon, lat)
    half = size * RES_M / 2.0
    x0 = float(np.round((cx - half) / SNAP_M) * SNAP_M)
    y0 = float(np.round((cy + half) / SNAP_M) * SNAP_M)
    return Grid(epsg=epsg, size=size, x0=x0, y0=y0)
