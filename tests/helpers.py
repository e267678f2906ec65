"""Builders for small AOI and pipeline files used across tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

SEGUELA_SQUARE = [[-6.72, 7.98], [-6.68, 7.98], [-6.68, 8.02], [-6.72, 8.02], [-6.72, 7.98]]


def write_aoi(directory: Path, aoi_id: str = "test", *, geometry: Any = None,
              **props: Any) -> Path:
    """Write a valid AOI file (override any property or the geometry)."""
    properties = {
        "id": aoi_id, "name": "Test area", "country": "CIV", "deposit_type": "alluvial",
        "catchment": "test", "notes": "written by a test", "parameters": {},
    }
    properties.update(props)
    geometry = geometry or {"type": "Polygon", "coordinates": [SEGUELA_SQUARE]}
    path = directory / f"{aoi_id}.geojson"
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"type": "Feature", "properties": properties,
                                "geometry": geometry}))
    return path


def write_pipeline(directory: Path, name: str = "test", **overrides: Any) -> Path:
    """Write a valid pipeline file; ``None`` in overrides deletes a key."""
    doc: dict[str, Any] = {
        "name": name, "aoi": "test", "aoi_dir": ".", "start": "2024-04-01", "end": "2024-12-31",
        "period": "quarter",
        "source": {"kind": "stac", "catalog": "catalog.json"},
        "outputs": "out",
    }
    for k, v in overrides.items():
        if v is None:
            doc.pop(k, None)
        else:
            doc[k] = v
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


#: Surface reflectance of ground types for synthetic cubes (Sentinel-2 L2A band names).
GRAVEL = {"blue": 0.11, "green": 0.15, "red": 0.19, "nir": 0.24, "nir08": 0.25, "swir16": 0.33,
          "swir22": 0.27}
BURN = {"blue": 0.03, "green": 0.04, "red": 0.05, "nir": 0.10, "nir08": 0.11, "swir16": 0.12,
        "swir22": 0.10}
