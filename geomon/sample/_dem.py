"""A 30 m elevation model of the simulated landscape, as a user would supply Copernicus GLO-30.

Valleys follow the simulated streams: ground rises with the square root of the distance from the
nearest stream, rises away from the main river (so tributaries flow into it), and falls gently
along the main river; a little smooth noise stands in for the rest of the relief.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from geomon.sample._noise import rng_for, smooth_field
from geomon.sample._world import World

__all__ = ["DEM_FILE", "write_dem"]

DEM_FILE = "dem.tif"
#: Cells of the 10 m grid per DEM cell (30 m).
FACTOR = 3


def elevation(world: World) -> np.ndarray:
    """Elevation in metres on the scene's 10 m grid."""
    land = world.land
    noise = smooth_field(rng_for(world.seed, world.spec.name, "relief", world.n),
                         (world.n, world.n), 30.0)
    return (250.0 + 0.02 * land.main_arc + 0.012 * land.dist_main
            + 2.0 * np.sqrt(land.dist_stream) + 0.3 * noise).astype("float32")


def write_dem(world: World, root: Path) -> Path:
    """Write ``dem.tif``: float32 metres, 30 m cells (3×3 means of :func:`elevation`)."""
    z = elevation(world)
    m = (world.n // FACTOR) * FACTOR
    coarse = z[:m, :m].reshape(m // FACTOR, FACTOR, m // FACTOR, FACTOR).mean(axis=(1, 3))
    path = root / DEM_FILE
    profile = {"driver": "COG", "width": coarse.shape[1], "height": coarse.shape[0],
               "count": 1, "dtype": "float32", "crs": CRS.from_epsg(world.grid.epsg),
               "transform": Affine(*world.grid.transform) * Affine.scale(FACTOR),
               "nodata": float("nan"), "BLOCKSIZE": 256, "COMPRESS": "DEFLATE"}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(coarse.astype("float32"), 1)
        dst.set_band_description(1, "elevation (m), simulated")
    return path
