"""Level-1C twins of L2A items, and the s2cloudless probability they give, joined to the cube.

Earth Search holds each acquisition twice: ``sentinel-2-l2a`` (what the cube is made of) and
``sentinel-2-l1c`` (top-of-atmosphere, with B10, which L2A lacks). A twin is the L1C item of the
same MGRS tile (``mgrs:utm_zone`` + ``mgrs:latitude_band`` + ``mgrs:grid_square``, or
``grid:code``), platform and sensing time (within :data:`MAX_TIME_GAP_S`). Their ten model
bands are read onto a 60 m grid aligned with the AOI's 10 m grid, the probability is computed
there (:mod:`geomon.cloudprob`) and repeated onto the cube's pixels as ``cloud_prob``. Days with
no twin get NaN: SCL alone masks them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import date

import numpy as np
import odc.stac
import pystac
import rasterio
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

from geomon.cloudprob import CLOUD_PROB, MODEL_BANDS, MODEL_RES_M, cloud_probability, upsample
from geomon.errors import GeomonError
from geomon.sources._base import Cube
from geomon.sources._load_items import _asset_scale_offset, _to_datetime, solar_day
from geomon.sources._reflectance import to_reflectance

log = logging.getLogger("geomon.sources")

__all__ = ["MAX_TIME_GAP_S", "pair_twins", "tile_of", "with_cloud_probability"]

#: Largest difference of sensing time between an L2A item and its L1C twin, seconds.
MAX_TIME_GAP_S = 60.0


def tile_of(item: pystac.Item) -> str | None:
    """MGRS tile of an item (``29PQJ``) from the ``mgrs:`` fields or ``grid:code``."""
    p = item.properties
    parts = [p.get(k) for k in ("mgrs:utm_zone", "mgrs:latitude_band", "mgrs:grid_square")]
    if all(v is not None for v in parts):
        return f"{int(parts[0]):02d}{parts[1]}{parts[2]}"
    code = p.get("grid:code")
    if isinstance(code, str) and code.startswith("MGRS-"):
        tile = code.removeprefix("MGRS-")
        return tile if len(tile) == 5 else f"0{tile}"
    return None


def pair_twins(l2a: Sequence[pystac.Item], l1c: Sequence[pystac.Item]
               ) -> dict[str, pystac.Item]:
    """L2A item id → its L1C twin (same tile and platform, sensing times within a minute)."""
    index: dict[tuple[str | None, str | None], list[pystac.Item]] = {}
    for it in l1c:
        index.setdefault((tile_of(it), it.properties.get("platform")), []).append(it)
    out = {}
    for it in l2a:
        candidates = index.get((tile_of(it), it.properties.get("platform")), [])
        gaps = [(abs((c.datetime - it.datetime).total_seconds()), c.id, c) for c in candidates
                if c.datetime is not None and it.datetime is not None]
        if gaps:
            gap, _, best = min(gaps)
            if gap <= MAX_TIME_GAP_S:
                out[it.id] = best
    return out


def _model_grid(grid: GeoBox) -> tuple[GeoBox, int]:
    factor = max(1, round(MODEL_RES_M / abs(grid.resolution.x)))
    return grid.zoom_out(factor), factor


def _toa_loader(items: list[pystac.Item], *, assets: Mapping[str, str], chunk_px: int,
                lon: float, gdal: Mapping[str, str], patch_url: Callable[[str], str] | None
                ) -> Callable[[GeoBox], xr.Dataset]:
    by_day: dict[date, pystac.Item] = {}
    for it in sorted(items, key=lambda i: i.datetime):
        by_day.setdefault(solar_day(it.datetime, lon), it)
    aliases = {b: k for b, k in assets.items() if b != k}
    kinds = {k: {"data_type": "uint16", "nodata": 0} for k in assets.values()}

    def on(geobox: GeoBox) -> xr.Dataset:
        with rasterio.Env(**gdal):
            raw = odc.stac.load(
                items, bands=list(MODEL_BANDS), geobox=geobox, groupby="solar_day",
                chunks={"time": 1, "x": chunk_px, "y": chunk_px}, resampling="bilinear",
                stac_cfg={"*": {"aliases": aliases, "assets": kinds}}, patch_url=patch_url,
                fail_on_error=False,
            )
        days = [solar_day(_to_datetime(t), lon) for t in raw.time.values]
        so = {b: [_asset_scale_offset(by_day[d], assets[b]) for d in days] for b in MODEL_BANDS}
        return to_reflectance(raw, so, bands=MODEL_BANDS)

    return on


def _on_cube_times(prob: xr.DataArray, times: np.ndarray, lon: float) -> xr.DataArray:
    """``prob`` on the cube's time steps (matched by solar day); NaN where a day has no twin."""
    cube_day = {solar_day(_to_datetime(t), lon): t for t in times}
    keep, stamp = [], []
    for i, t in enumerate(prob.time.values):
        day = solar_day(_to_datetime(t), lon)
        if day in cube_day:
            keep.append(i)
            stamp.append(cube_day[day])
    matched = prob.isel(time=keep).assign_coords(time=np.array(stamp, dtype=times.dtype))
    return matched.reindex(time=times, fill_value=np.float32(np.nan))


def with_cloud_probability(cube: Cube, l1c: Sequence[pystac.Item], l2a: Sequence[pystac.Item],
                           *, lon: float, chunk_px: int, assets: Mapping[str, str],
                           gdal: Mapping[str, str] | None = None,
                           patch_url: Callable[[str], str] | None = None) -> Cube:
    """``cube`` with a lazy ``cloud_prob`` variable from the L1C twins of its items.

    Raises
    ------
    GeomonError
        None of the L2A items has a twin among ``l1c``.
    """
    twins = pair_twins(l2a, l1c)
    if not twins:
        raise GeomonError(
            f"mask.cloud_probability needs the Level-1C twins of the L2A items, and none of the "
            f"{len(l1c)} L1C items found matches one of the {len(l2a)} L2A items (same MGRS "
            "tile, platform and sensing time)", field="mask.cloud_probability")
    if len(twins) < len(l2a):
        log.warning("%d of %d L2A items have no L1C twin: SCL alone masks their clouds",
                    len(l2a) - len(twins), len(l2a))
    items = sorted({t.id: t for t in twins.values()}.values(), key=lambda i: (i.datetime, i.id))
    toa_on = _toa_loader(items, assets=assets, chunk_px=max(16, chunk_px // 6), lon=lon,
                         gdal=gdal or {}, patch_url=patch_url)
    full = cube.data.odc.geobox
    coarse, factor = _model_grid(full)

    def prob_on(geobox: GeoBox, times: np.ndarray) -> xr.DataArray:
        rows, cols = full.overlap_roi(geobox)
        r0, c0 = rows.start // factor, cols.start // factor
        r1, c1 = math.ceil(rows.stop / factor), math.ceil(cols.stop / factor)
        prob = cloud_probability(toa_on(coarse[r0:r1, c0:c1]))
        h, w = geobox.shape.yx
        dy, dx = rows.start - r0 * factor, cols.start - c0 * factor
        fine = upsample(prob, factor, slice(dy, dy + h), slice(dx, dx + w),
                        xr_coords(geobox, crs_coord_name="spatial_ref"))
        return _on_cube_times(fine, times, lon)

    def joined(ds: xr.Dataset, geobox: GeoBox) -> xr.Dataset:
        return ds.assign({CLOUD_PROB: prob_on(geobox, ds.time.values)})

    def loader(geobox: GeoBox) -> xr.Dataset:
        base = cube.loader(geobox) if cube.loader is not None else cube.window(geobox)
        return joined(base, geobox)

    log.info("cloud probability: s2cloudless on %d L1C twins at %d m", len(items), MODEL_RES_M)
    return Cube(data=joined(cube.data, full), items=cube.items, skipped=cube.skipped,
                loader=loader)

