"""Per-date truth a scene folder does not store: where the clouds and the bright spoil were.

Rendering is deterministic in (scenario, seed, size, dates, acquisition), so the sky and surface
of every acquisition are rendered again and cut to the pixels of a cube read from the scene.
Used to score cloud masks (tests and ``benchmarks/cloud_probability.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from geomon.sample._render import render
from geomon.sample._scene import Scene
from geomon.sample._world import build_world

__all__ = ["SkyTruth", "sky_truth"]


@dataclass(frozen=True)
class SkyTruth:
    """Truth on a cube's (time, y, x) pixels."""

    cloud: np.ndarray  # bool: cloud opacity above 0.2, or cirrus (Sky.cloud_truth)
    opacity: np.ndarray  # float32 cloud opacity 0-1
    spoil: np.ndarray  # float32 share of bright active spoil in the pixel


def sky_truth(scene: Scene, cube: xr.Dataset) -> SkyTruth:
    """Render ``scene``'s acquisitions again and cut their truth to ``cube``'s pixels and times.

    ``cube`` is on the scene's 10 m grid or a window of it, with one time step per acquisition.
    """
    assert scene.start is not None and scene.end is not None
    world = build_world(scene.scenario, scene.seed, scene.size, scene.start, scene.end)
    a, _, x0, _, e, y0 = scene.transform
    cols = np.rint((cube.x.values - x0) / a - 0.5).astype(int)
    rows = np.rint((cube.y.values - y0) / e - 0.5).astype(int)
    by_date = {acq.date: acq for acq in world.acquisitions}
    shape = (cube.sizes["time"], rows.size, cols.size)
    cloud = np.zeros(shape, bool)
    opacity = np.zeros(shape, np.float32)
    spoil = np.zeros(shape, np.float32)
    for i, t in enumerate(cube.time.values.astype("datetime64[D]").astype(object)):
        r = render(world, by_date[t], keep_surface=True)
        truth = r.sky.cloud_truth()
        if truth is not None:
            cloud[i] = truth[np.ix_(rows, cols)]
        if r.sky.alpha is not None:
            opacity[i] = r.sky.alpha[np.ix_(rows, cols)]
        assert r.surface is not None
        spoil[i] = r.surface.spoil[np.ix_(rows, cols)]
    return SkyTruth(cloud=cloud, opacity=opacity, spoil=spoil)
