"""Writing results: RFC 7946 GeoJSON in lon/lat and per-period COG rasters, each atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine

from geomon.detect import CONFOUNDER_CODES, STATE_CODES
from geomon.runs import atomic_path, write_text

__all__ = [
    "STATE_COLOURS",
    "feature_collection",
    "read_composite",
    "write_cog",
    "write_composite",
    "write_geojson",
]

#: Colour table of the per-period state rasters (RGBA), also used by maps.
STATE_COLOURS = {
    0: (0, 0, 0, 0),
    1: (230, 25, 75, 255),  # new digging
    2: (245, 130, 48, 255),  # active digging
    3: (60, 180, 75, 255),  # revegetating
    255: (128, 128, 128, 255),  # unobserved
}


def feature_collection(gdf: gpd.GeoDataFrame, *, precision: int = 7) -> dict[str, Any]:
    """RFC 7946 FeatureCollection: EPSG:4326 lon/lat, exterior rings counter-clockwise."""
    wgs = gdf.to_crs(4326) if gdf.crs is not None and len(gdf) else gdf
    features = []
    records = wgs.drop(columns=wgs.geometry.name).to_dict("records")
    for record, geometry in zip(records, wgs.geometry, strict=True):
        props = {k: _plain(v) for k, v in record.items()}
        geom = shapely.set_precision(geometry, 10**-precision) if precision else geometry
        geom = shapely.orient_polygons(geom, exterior_cw=False)  # after set_precision, which
        # returns GEOS's clockwise shells
        features.append(
            {"type": "Feature", "id": props.get("id"), "properties": props,
             "geometry": shapely.geometry.mapping(geom)}
        )
    return {"type": "FeatureCollection", "features": features}


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, list | tuple | np.ndarray):
        return [_plain(x) for x in v]
    return v


def write_geojson(path: Path, gdf: gpd.GeoDataFrame) -> Path:
    """Write ``gdf`` as an RFC 7946 GeoJSON file (atomic)."""
    return write_text(path, json.dumps(feature_collection(gdf), separators=(",", ":")) + "\n")


def write_cog(
    path: Path,
    data: np.ndarray,
    *,
    transform: Affine,
    crs: str,
    nodata: float | None = None,
    colormap: dict[int, tuple[int, int, int, int]] | None = None,
    description: str | None = None,
    categories: dict[int, str] | None = None,
) -> Path:
    """Write a single-band array as a Cloud-Optimised GeoTIFF with overviews (atomic)."""
    profile = {
        "driver": "COG",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": data.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "compress": "deflate",
        "blocksize": 256,
        "overview_resampling": "nearest",
    }
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(data, 1)
        if colormap:
            dst.write_colormap(1, colormap)
        if description:
            dst.set_band_description(1, description)
        if categories:
            dst.update_tags(1, **{f"class_{k}": v for k, v in categories.items()})
    return path


def state_categories() -> dict[int, str]:
    return {**STATE_CODES, 255: "unobserved"}


def confounder_categories() -> dict[int, str]:
    return dict(CONFOUNDER_CODES)


def write_composite(
    path: Path,
    composite: Any,
    *,
    bands: tuple[str, ...] | list[str],
    transform: Affine,
    crs: str,
) -> Path:
    """Write one period's composite as a multi-band uint16 COG in Sentinel-2 L2A units.

    DN = reflectance × 10000 + 1000 (scale 0.0001, offset −0.1, nodata 0), band descriptions are
    the band names, so the file reads back with :func:`read_composite`.
    """
    stack = np.stack([np.asarray(composite[b].values, "float32") for b in bands])
    dn = np.where(np.isfinite(stack), np.clip(np.rint(stack * 10000 + 1000), 1, 65535), 0)
    profile = {
        "driver": "COG", "width": stack.shape[2], "height": stack.shape[1], "count": len(bands),
        "dtype": "uint16", "crs": crs, "transform": transform, "nodata": 0,
        "compress": "deflate", "blocksize": 256, "overview_resampling": "average",
    }
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(dn.astype("uint16"))
        dst.descriptions = tuple(bands)
        dst.scales = (1e-4,) * len(bands)
        dst.offsets = (-0.1,) * len(bands)
    return path


def read_composite(
    path: Path, *, window: Any = None
) -> tuple[dict[str, np.ndarray], Affine, str]:
    """Read a composite written by :func:`write_composite`: ({band: reflectance}, transform, crs)."""
    with rasterio.open(path) as src:
        data = src.read(window=window).astype("float32")
        transform = src.window_transform(window) if window is not None else src.transform
        names = src.descriptions
        crs = src.crs.to_string()
    refl = np.where(data == 0, np.nan, data * 1e-4 - 0.1)
    return dict(zip(names, refl, strict=True)), transform, crs
