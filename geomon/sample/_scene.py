"""The :class:`Scene` record of a generated scene, and ``scene.json`` (its on-disk form)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from geomon.errors import GeomonError
from geomon.sample._dates import Period

__all__ = ["SCENE_FILE", "SCENE_FORMAT", "Scene", "load_scene", "scene_to_json"]

SCENE_FILE = "scene.json"
SCENE_FORMAT = "geomon-sample-scene/1"


@dataclass(frozen=True)
class Scene:
    """A generated scene: where its files are and what grid and time range it covers.

    Attributes
    ----------
    root
        The scene folder.
    scenario, seed, size
        What it was generated from; ``size`` is pixels per side at 10 m.
    epsg
        UTM EPSG code of the grid.
    transform
        Affine of the 10 m grid, rasterio order ``(a, b, c, d, e, f)``.
    bbox_lonlat
        ``(west, south, east, north)`` of the grid in degrees.
    catalog
        ``root/catalog.json``: static STAC catalog with relative hrefs.
    item_collection
        ``root/item_collection.json``: the same items with absolute asset hrefs.
    truth, confounders
        ``truth.geojson`` (mining sites) and ``confounders.geojson``.
    truth_raster
        ``truth_periods.tif``: one band per period (codes 0-3).
    n_items
        Number of STAC items (acquisitions).
    start, end
        Time range of the acquisitions.
    periods
        Calendar quarters intersecting ``start..end``, in band order of :attr:`truth_raster`.
    confounders_raster
        ``confounders.tif`` (codes 0-4).
    href_prefix
        URL prefix of the item collection's asset hrefs, or None for ``file://`` URLs.
    """

    root: Path
    scenario: str
    seed: int
    size: int
    epsg: int
    transform: tuple[float, ...]
    bbox_lonlat: tuple[float, float, float, float]
    catalog: Path
    item_collection: Path
    truth: Path
    confounders: Path
    truth_raster: Path
    n_items: int
    start: date | None = None
    end: date | None = None
    periods: tuple[Period, ...] = ()
    confounders_raster: Path | None = None
    href_prefix: str | None = None

    @property
    def crs(self) -> str:
        return f"EPSG:{self.epsg}"


_FILES = {
    "catalog": "catalog.json",
    "item_collection": "item_collection.json",
    "truth": "truth.geojson",
    "confounders": "confounders.geojson",
    "truth_raster": "truth_periods.tif",
    "confounders_raster": "confounders.tif",
}


def scene_to_json(scene: Scene, **extra: Any) -> dict[str, Any]:
    """The ``scene.json`` document: every field of ``scene`` (file paths relative to root)."""
    doc: dict[str, Any] = {
        "format": SCENE_FORMAT,
        "root": str(scene.root),
        "scenario": scene.scenario,
        "seed": scene.seed,
        "size": scene.size,
        "epsg": scene.epsg,
        "transform": list(scene.transform),
        "bbox_lonlat": list(scene.bbox_lonlat),
        **{key: name for key, name in _FILES.items()},
        "n_items": scene.n_items,
        "start": None if scene.start is None else scene.start.isoformat(),
        "end": None if scene.end is None else scene.end.isoformat(),
        "href_prefix": scene.href_prefix,
        "periods": [p.to_dict() for p in scene.periods],
    }
    doc.update(extra)
    return doc


def scene_from_json(doc: dict[str, Any], root: Path) -> Scene:
    return Scene(
        root=root,
        scenario=doc["scenario"],
        seed=int(doc["seed"]),
        size=int(doc["size"]),
        epsg=int(doc["epsg"]),
        transform=tuple(float(v) for v in doc["transform"]),
        bbox_lonlat=tuple(float(v) for v in doc["bbox_lonlat"]),  # type: ignore[arg-type]
        catalog=root / doc.get("catalog", _FILES["catalog"]),
        item_collection=root / doc.get("item_collection", _FILES["item_collection"]),
        truth=root / doc.get("truth", _FILES["truth"]),
        confounders=root / doc.get("confounders", _FILES["confounders"]),
        truth_raster=root / doc.get("truth_raster", _FILES["truth_raster"]),
        n_items=int(doc["n_items"]),
        start=date.fromisoformat(doc["start"]) if doc.get("start") else None,
        end=date.fromisoformat(doc["end"]) if doc.get("end") else None,
        periods=tuple(Period(p["label"], date.fromisoformat(p["start"]),
                             date.fromisoformat(p["end"])) for p in doc.get("periods", [])),
        confounders_raster=root / doc.get("confounders_raster", _FILES["confounders_raster"]),
        href_prefix=doc.get("href_prefix"),
    )


def read_scene_json(root: Path) -> dict[str, Any]:
    path = root / SCENE_FILE
    if not path.is_file():
        raise GeomonError("not a generated scene: no scene.json", path=root,
                          expected="a folder written by geomon.sample.generate_scene")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise GeomonError(f"scene.json is not valid JSON ({exc.msg})", path=path) from None
    if not isinstance(doc, dict) or doc.get("format") != SCENE_FORMAT:
        raise GeomonError("unrecognised scene.json", path=path, field="format",
                          expected=repr(SCENE_FORMAT))
    return doc


def load_scene(root: str | Path) -> Scene:
    """Re-open a generated scene from ``root/scene.json``.

    Paths are resolved against ``root`` as it is now, so a scene folder can be moved (the
    ``file://`` hrefs of its item collection still point at the old place; regenerate the item
    collection with :func:`geomon.sample.generate_scene` and the same arguments to fix them).
    """
    root = Path(root).resolve()
    doc = read_scene_json(root)
    try:
        return scene_from_json(doc, root)
    except (KeyError, TypeError, ValueError) as exc:
        raise GeomonError(f"scene.json is incomplete or malformed ({exc})",
                          path=root / SCENE_FILE) from None
