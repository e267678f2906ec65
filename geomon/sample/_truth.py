"""Ground truth of a scene: mining sites, confounders, and per-period truth rasters.

``truth_periods.tif`` codes, per calendar quarter: 0 none, 1 mining newly disturbed in the period,
2 mining opened earlier and still worked in the period, 3 mining abandoned before the period and
not yet revegetated. ``confounders.tif``: 0 none, 1 fire scar, 2 cropland cleared, 3 flood,
4 new road, over the whole time range (later codes win where they overlap).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from rasterio.crs import CRS
from rasterio.features import shapes
from rasterio.transform import Affine

from geomon.sample._dates import Period, date_of, day_of
from geomon.sample._world import World

__all__ = [
    "CONFOUNDER_CODES",
    "TRUTH_CODES",
    "confounder_features",
    "period_codes",
    "site_features",
    "write_geojson",
    "write_rasters",
]

TRUTH_CODES = {0: "none", 1: "new", 2: "active", 3: "inactive_or_revegetating"}
CONFOUNDER_CODES = {1: "fire_scar", 2: "cropland", 3: "flood", 4: "road"}
PIXEL_HA = 0.01
#: An abandoned site counts as "inactive" (not yet "revegetating") for this many days.
INACTIVE_DAYS = 90


def _polygon(world: World, flat_idx: np.ndarray) -> shapely.Geometry:
    n = world.n
    mask = np.zeros(n * n, np.uint8)
    mask[flat_idx] = 1
    mask = mask.reshape(n, n)
    polys = [shapely.geometry.shape(g) for g, v in shapes(mask, mask=mask.astype(bool),
                                                           transform=Affine(*world.grid.transform))
             if v == 1]
    utm = shapely.union_all(polys)
    geom = world.grid.utm_to_lonlat(utm)
    geom = shapely.set_precision(geom, 1e-8)
    if geom.geom_type == "Polygon":
        return shapely.geometry.polygon.orient(geom, 1.0)
    return shapely.MultiPolygon([shapely.geometry.polygon.orient(p, 1.0) for p in geom.geoms])


def _dug_by_end(world: World) -> np.ndarray:
    return world.mining.day <= day_of(world.end)


def site_features(world: World) -> list[dict[str, Any]]:
    """One GeoJSON Feature per mining site, outlined as dug by the end of the scene."""
    mine = world.mining
    last = day_of(world.end)
    dug = _dug_by_end(world)
    feats = []
    for k, site in enumerate(mine.sites):
        sel = dug & (mine.site == k)
        if not sel.any():
            continue
        if site.abandoned is None or site.abandoned > last:
            status = "active"
        elif last - site.abandoned <= INACTIVE_DAYS:
            status = "inactive"
        else:
            status = "revegetating"
        aband = None if site.abandoned is None or site.abandoned > last else site.abandoned
        feats.append({
            "type": "Feature",
            "id": site.id,
            "properties": {
                "id": site.id,
                "kind": site.kind,
                "first_disturbed": date_of(float(mine.day[sel].min())).isoformat(),
                "status_at_end": status,
                "area_ha": round(int(sel.sum()) * PIXEL_HA, 2),
                "abandoned": None if aband is None else date_of(aband).isoformat(),
            },
            "geometry": shapely.geometry.mapping(_polygon(world, mine.idx[sel])),
        })
    return feats


def confounder_features(world: World) -> list[dict[str, Any]]:
    """GeoJSON Features of every confounder event that overlaps the scene's time range."""
    first, last = day_of(world.start), day_of(world.end)
    feats: list[dict[str, Any]] = []

    def add(fid: str, kind: str, start: int, end: int, idx: np.ndarray, **extra: Any) -> None:
        if idx.size == 0:
            return
        feats.append({
            "type": "Feature",
            "id": fid,
            "properties": {
                "id": fid,
                "kind": kind,
                "start": date_of(start).isoformat(),
                "end": date_of(end).isoformat(),
                "area_ha": round(idx.size * PIXEL_HA, 2),
                **extra,
            },
            "geometry": shapely.geometry.mapping(_polygon(world, idx)),
        })

    for fire in world.fires:
        if fire.end >= first and fire.day <= last:
            add(f"fire-{fire.id:02d}", "fire_scar", fire.day, fire.end, fire.idx)
    fid = world.land.field_id.ravel()
    for ev in world.crops:
        if ev.green >= first and ev.clear <= last:
            idx = np.flatnonzero(fid == ev.field + 1)
            add(f"crop-{ev.field:03d}-{date_of(ev.clear).year}", "cropland", ev.clear, ev.green,
                idx, harvest=date_of(ev.harvest).isoformat())
    plain = world.floodplain
    for fl in world.floods:
        idx = plain.idx[plain.h < fl.level]
        add(f"flood-{date_of(fl.peak).year}", "flood", fl.start, fl.end, idx,
            peak=date_of(fl.peak).isoformat())
    road = world.road
    if road.start <= last:
        add("road-01", "road", road.start, road.end, road.idx[road.idx_day <= last])
    return feats


def period_codes(world: World, period: Period) -> np.ndarray:
    """The truth code of every pixel for one period, ``(n, n)`` uint8."""
    n = world.n
    out = np.zeros(n * n, np.uint8)
    mine = world.mining
    if mine.idx.size == 0:
        return out.reshape(n, n)
    ps, pe = day_of(period.start), day_of(period.end)
    d = mine.day
    aband = np.array([np.inf if s.abandoned is None else s.abandoned for s in mine.sites])[
        mine.site]
    reveg = np.array([s.reveg(ps) for s in mine.sites])[mine.site]
    code = np.zeros(d.size, np.uint8)
    earlier = d < ps
    code[(d >= ps) & (d <= pe)] = 1
    code[earlier & (aband > ps)] = 2
    code[earlier & (aband <= ps) & (reveg < 0.95)] = 3
    out[mine.idx] = code
    return out.reshape(n, n)


def confounder_raster(world: World) -> np.ndarray:
    n = world.n
    first, last = day_of(world.start), day_of(world.end)
    out = np.zeros(n * n, np.uint8)
    for fire in world.fires:
        if fire.end >= first and fire.day <= last:
            out[fire.idx] = 1
    fid = world.land.field_id.ravel()
    fields = sorted({ev.field for ev in world.crops if ev.green >= first and ev.clear <= last})
    if fields:
        out[np.isin(fid, np.array(fields) + 1)] = 2
    if world.floods and world.floodplain.idx.size:
        top = max(f.level for f in world.floods)
        out[world.floodplain.idx[world.floodplain.h < top]] = 3
    road = world.road
    out[road.idx[road.idx_day <= last]] = 4
    return out.reshape(n, n)


def _write_raster(path: Path, world: World, bands: list[np.ndarray], names: list[str]) -> None:
    n = world.n
    profile = {
        "driver": "COG",
        "width": n,
        "height": n,
        "count": max(1, len(bands)),
        "dtype": "uint8",
        "crs": CRS.from_epsg(world.grid.epsg),
        "transform": Affine(*world.grid.transform),
        "BLOCKSIZE": 256,
        "COMPRESS": "DEFLATE",
        "OVERVIEW_RESAMPLING": "NEAREST",
    }
    with rasterio.open(path, "w", **profile) as dst:
        for i, (arr, name) in enumerate(zip(bands, names, strict=True), start=1):
            dst.write(arr, i)
            dst.set_band_description(i, name)


def write_rasters(world: World, periods: tuple[Period, ...], root: Path) -> tuple[Path, Path]:
    """Write ``truth_periods.tif`` (one band per period) and ``confounders.tif``."""
    truth = root / "truth_periods.tif"
    _write_raster(truth, world, [period_codes(world, p) for p in periods],
                  [p.label for p in periods])
    conf = root / "confounders.tif"
    _write_raster(conf, world, [confounder_raster(world)], ["confounders"])
    return truth, conf


def _round_coords(obj: Any, nd: int = 8) -> Any:
    if isinstance(obj, float):
        return round(obj, nd)
    if isinstance(obj, list | tuple):
        return [_round_coords(v, nd) for v in obj]
    if isinstance(obj, dict):
        return {k: _round_coords(v, nd) for k, v in obj.items()}
    return obj


def write_geojson(path: Path, features: list[dict[str, Any]], **members: Any) -> Path:
    """Write an RFC 7946 FeatureCollection (lon/lat, right-hand rule)."""
    feats = [{**f, "geometry": _round_coords(f["geometry"])} for f in features]
    doc = {"type": "FeatureCollection", **members, "features": feats}
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    return path
