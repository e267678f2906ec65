"""Scene simulator: Sentinel-2 L2A time series with known truth, in the Earth Search v1 layout.

A scene is a folder with one STAC item per acquisition (COGs per band at native resolution, SCL),
a static catalog and an ItemCollection, and the truth: mining sites (``truth.geojson``), the
changes that are not mining (``confounders.geojson``) and per-quarter truth rasters. The product's
real STAC loading code reads it unchanged (DESIGN.md section 2).

Examples
--------
>>> from geomon.sample import generate_scene
>>> scene = generate_scene("data/sample", scenario="seguela", seed=0, size=256)  # doctest: +SKIP
>>> scene.n_items, scene.epsg                                                     # doctest: +SKIP
(74, 32629)
"""

from __future__ import annotations

from geomon.sample._dates import Period
from geomon.sample._generate import SCENARIOS, generate_scene, scene_footprint
from geomon.sample._scene import Scene, load_scene

__all__ = ["SCENARIOS", "Period", "Scene", "generate_scene", "load_scene", "scene_footprint"]
