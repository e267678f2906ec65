"""Streams from a digital elevation model, where the user supplies one.

Alluvial diamonds lie in stream beds and their terraces, so the rule detector accepts digging
older than the assessment only near drainage. The imagery shows drainage as open water and
gallery forest; where digging has stripped both, a DEM still shows the valley. Given a DEM
(any GeoTIFF or COG in any CRS; Copernicus GLO-30 is the usual choice), :func:`streams_on_grid`:

1. reads it onto a grid in the AOI's CRS at ``resolution_m`` (30 m), covering the AOI and a
   margin, so streams entering the AOI carry the catchment above it;
2. fills depressions with Priority-Flood+ε (Barnes, Lehman & Mulla 2014, *Computers &
   Geosciences* 62: 117-127), so that every cell drains to the edge;
3. sends each cell to its steepest lower neighbour of eight (D8) and accumulates the upstream
   area;
4. calls every cell draining at least ``min_catchment_km2`` a stream, and resamples that mask
   onto the AOI's 10 m grid.

The filling runs in Python at 30 m: about a second for a 10 km AOI, a minute for 100 km.
"""

from __future__ import annotations

import heapq
from collections import deque
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.errors import RasterioIOError
from rasterio.warp import Resampling, reproject

from geomon.errors import GeomonError

__all__ = ["fill_depressions", "flow_accumulation", "streams_on_grid"]

#: Rise given to each cell of a filled depression over the cell it drains to, m.
EPSILON_M = 1e-4
_OFFSETS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def streams_on_grid(path: str | Path, *, crs: str, transform: Affine, shape: tuple[int, int],
                    min_catchment_km2: float = 0.5, resolution_m: float = 30.0,
                    margin_m: float = 2000.0) -> np.ndarray:
    """Boolean (y, x) mask on the given grid, True on streams the DEM at ``path`` shows.

    Parameters
    ----------
    path
        The DEM: a single-band raster of elevations in metres with a CRS.
    crs, transform, shape
        The AOI grid the mask is for.
    min_catchment_km2
        Upstream area a cell must drain to count as a stream.
    resolution_m, margin_m
        Cell size of the grid the drainage is traced on, and how far it extends past the AOI.

    Examples
    --------
    >>> streams = streams_on_grid("dem.tif", crs="EPSG:32630", transform=grid_transform,
    ...                           shape=(1024, 1024))  # doctest: +SKIP
    """
    height, width = shape
    left, top = transform.c - margin_m, transform.f + margin_m
    right = transform.c + transform.a * width + margin_m
    bottom = transform.f + transform.e * height - margin_m
    work_t = Affine(resolution_m, 0, left, 0, -resolution_m, top)
    work_shape = (int(np.ceil((top - bottom) / resolution_m)),
                  int(np.ceil((right - left) / resolution_m)))
    z = _read(Path(path), crs, work_t, work_shape)
    inner = z[round(margin_m / resolution_m):-round(margin_m / resolution_m) or None,
              round(margin_m / resolution_m):-round(margin_m / resolution_m) or None]
    if np.isnan(inner).mean() > 0.5:
        raise GeomonError("the DEM covers less than half of the AOI", path=path,
                          field="detection.dem", expected="a DEM covering the AOI")
    acc = flow_accumulation(fill_depressions(z))
    streams = (acc * resolution_m ** 2 / 1e6 >= min_catchment_km2).astype("uint8")
    out = np.zeros(shape, "uint8")
    reproject(streams, out, src_transform=work_t, src_crs=crs, dst_transform=transform,
              dst_crs=crs, resampling=Resampling.nearest)
    return out.astype(bool)


def _read(path: Path, crs: str, transform: Affine, shape: tuple[int, int]) -> np.ndarray:
    """The DEM resampled (bilinear) onto ``transform``/``shape``; NaN where it has no data."""
    z = np.full(shape, np.nan, "float64")
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise GeomonError("the DEM has no coordinate reference system", path=path,
                                  field="detection.dem", expected="a georeferenced raster")
            reproject(rasterio.band(src, 1), z, dst_transform=transform, dst_crs=crs,
                      dst_nodata=np.nan, resampling=Resampling.bilinear)
    except RasterioIOError as exc:
        raise GeomonError(f"cannot read the DEM: {exc}", path=path, field="detection.dem",
                          expected="a GeoTIFF or COG of elevations in metres") from None
    return z


def fill_depressions(z: np.ndarray, *, epsilon: float = EPSILON_M) -> np.ndarray:
    """``z`` with every depression raised so each cell has a path down to the edge or to no-data.

    Priority-Flood+ε: cells are flooded inwards from the edge (and from NaN cells) in order of
    elevation; a cell lower than the one it was reached from is raised ``epsilon`` above it, so
    filled flats still drain. NaN stays NaN.

    Examples
    --------
    >>> z = np.array([[5., 5, 5], [5, 1, 5], [5, 5, 0]])
    >>> float(fill_depressions(z)[1, 1]) > 0
    True
    """
    h, w = z.shape
    # one cell of NaN around the grid: the edge drains out like any hole, with no bounds checks
    padded = np.full((h + 2, w + 2), np.nan)
    padded[1:-1, 1:-1] = z
    nodata = np.isnan(padded)
    seeds = np.zeros_like(nodata)
    for dy, dx in _OFFSETS:  # cells next to a hole (or the edge) drain into it
        seeds |= _shift(nodata, dy, dx, fill=False)
    seeds &= ~nodata
    flat = padded.reshape(-1).tolist()  # Python lists: 3× faster to index one by one
    shut = (nodata | seeds).reshape(-1).tolist()
    steps = [dy * (w + 2) + dx for dy, dx in _OFFSETS]
    heap = [(flat[c], c) for c in np.flatnonzero(seeds).tolist()]
    heapq.heapify(heap)
    pit: deque[int] = deque()
    while heap or pit:
        c = pit.popleft() if pit else heapq.heappop(heap)[1]
        level = flat[c]
        for step in steps:
            n = c + step
            if shut[n]:
                continue
            shut[n] = True
            if flat[n] <= level:  # in a depression: raise it and keep flooding from it
                flat[n] = level + epsilon
                pit.append(n)
            else:
                heapq.heappush(heap, (flat[n], n))
    return np.array(flat).reshape(h + 2, w + 2)[1:-1, 1:-1].copy()


def flow_accumulation(z: np.ndarray) -> np.ndarray:
    """Cells draining through each cell (itself included) by D8 steepest descent on ``z``.

    ``z`` should be filled (:func:`fill_depressions`); a cell with no lower neighbour, and
    every NaN cell, is an outlet.

    Examples
    --------
    >>> z = np.array([[3., 2, 1, 0]])   # a slope draining east
    >>> flow_accumulation(z).tolist()
    [[1.0, 2.0, 3.0, 4.0]]
    """
    h, w = z.shape
    filled = np.where(np.isnan(z), np.inf, z)
    best = np.zeros((h, w))
    receiver = np.full((h, w), -1, "int64")
    index = np.arange(h * w).reshape(h, w)
    for dy, dx in _OFFSETS:
        with np.errstate(invalid="ignore"):  # inf - inf next to no-data: not a way down
            drop = (filled - _shift(filled, dy, dx, fill=np.inf)) / np.hypot(dy, dx)
        better = np.isfinite(drop) & (drop > best)
        best = np.where(better, drop, best)
        receiver = np.where(better, _shift(index, dy, dx, fill=-1), receiver)
    receiver[np.isnan(z)] = -1
    acc = np.where(np.isnan(z), 0.0, 1.0).reshape(-1).tolist()
    rcv = receiver.reshape(-1).tolist()
    for c in np.argsort(-filled.reshape(-1), kind="stable").tolist():  # donors first
        r = rcv[c]
        if r >= 0:
            acc[r] += acc[c]
    return np.array(acc).reshape(h, w)


def _shift(a: np.ndarray, dy: int, dx: int, *, fill: float | bool) -> np.ndarray:
    """``out[y, x] = a[y + dy, x + dx]``, ``fill`` outside ``a``."""
    out = np.full_like(a, fill)
    h, w = a.shape
    out[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)] = \
        a[max(0, dy):h - max(0, -dy) or None, max(0, dx):w - max(0, -dx) or None]
    return out
