"""Cutting an AOI's grid into square tiles, so memory stays flat however large the area is.

Tiles are windows of the one AOI grid (no resampling, no seams). Each axis is cut into as few
near-equal parts as keep a tile at most ``tile_px`` on a side, so no tile is a sliver. Work that
looks at a pixel's neighbours reads a tile with a *halo* around it (:meth:`Tile.read`) and keeps
only the core, so every pixel is computed exactly as it would be on the whole grid.

>>> [t.name for t in tile_grid((300, 500), tile_px=256)]
['r000c000', 'r000c001', 'r001c000', 'r001c001']
>>> tile_grid((300, 500), tile_px=256)[3].read(8, (300, 500))
(slice(142, 300, None), slice(242, 500, None))
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from odc.geo.geobox import GeoBox

__all__ = ["Tile", "tile_grid"]


@dataclass(frozen=True)
class Tile:
    """One tile: its place in the tile grid and its core window on the AOI grid (pixels)."""

    row: int
    col: int
    y: slice
    x: slice

    @property
    def name(self) -> str:
        return f"r{self.row:03d}c{self.col:03d}"

    @property
    def shape(self) -> tuple[int, int]:
        return (self.y.stop - self.y.start, self.x.stop - self.x.start)

    def read(self, halo: int, shape: tuple[int, int]) -> tuple[slice, slice]:
        """The core grown by ``halo`` pixels on every side, clipped to a grid of ``shape``."""
        return (slice(max(self.y.start - halo, 0), min(self.y.stop + halo, shape[0])),
                slice(max(self.x.start - halo, 0), min(self.x.stop + halo, shape[1])))

    def core_in(self, window: tuple[slice, slice]) -> tuple[slice, slice]:
        """Where the core lies inside ``window`` (as returned by :meth:`read`)."""
        y0, x0 = self.y.start - window[0].start, self.x.start - window[1].start
        return (slice(y0, y0 + self.shape[0]), slice(x0, x0 + self.shape[1]))

    def geobox(self, grid: GeoBox, window: tuple[slice, slice] | None = None) -> GeoBox:
        """The sub-grid of ``grid`` under ``window`` (default: the core)."""
        ys, xs = window or (self.y, self.x)
        return grid[ys, xs]


def tile_grid(shape: tuple[int, int], *, tile_px: int) -> list[Tile]:
    """Row-major tiles of at most ``tile_px`` × ``tile_px`` covering a grid of ``shape`` (y, x)."""
    if tile_px <= 0:
        raise ValueError(f"tile_px must be positive, got {tile_px}")
    ys, xs = (_cuts(n, tile_px) for n in shape)
    return [Tile(row=r, col=c, y=y, x=x) for r, y in enumerate(ys) for c, x in enumerate(xs)]


def _cuts(length: int, most: int) -> list[slice]:
    parts = max(1, -(-length // most))
    edges = [round(i * length / parts) for i in range(parts + 1)]
    return [slice(a, b) for a, b in pairwise(edges)]
