"""Load STAC items onto the AOI grid with odc-stac: the shared back end of ``stac`` and ``local``.

Every asset is checked first (:mod:`geomon.sources._preflight`); unreadable ones are recorded in
``Cube.skipped`` and left out, so the load itself only reads what is there. The GDAL retry
options are set around :func:`odc.stac.load`, which captures them into the dask graph, so the
reads on the workers retry the same way.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import odc.stac
import pystac
import rasterio
import xarray as xr
from odc.geo.geobox import GeoBox

from geomon.aoi import AOI
from geomon.errors import GeomonError
from geomon.sources._base import BANDS, SCL, Cube
from geomon.sources._grid import aoi_geobox
from geomon.sources._native import native_lattices, read_native
from geomon.sources._preflight import Probe, probe_all
from geomon.sources._reflectance import declared_scale_offset, to_reflectance
from geomon.sources._retry import RetryPolicy
from geomon.sources._skipped import SkipLog, watch_read_failures

log = logging.getLogger("geomon.sources")

__all__ = ["item_summary", "load_items", "solar_day"]

#: Our band names → Earth Search v1 asset keys (the identity).
EARTH_SEARCH_ASSETS: dict[str, str] = {b: b for b in (*BANDS, SCL)}


def load_items(
    items: Sequence[pystac.Item],
    aoi: AOI,
    *,
    chunk_px: int,
    policy: RetryPolicy,
    assets: Mapping[str, str] | None = None,
    patch_url: Callable[[str], str] | None = None,
    preflight: bool = True,
    gdal: Mapping[str, str] | None = None,
    periods: Sequence[tuple[date, date]] = (),
) -> Cube:
    """Lazy reflectance cube of ``items`` over ``aoi``, mosaicked per solar day.

    Bands whose assets lie on a grid twice as coarse as the AOI's, on its pixel lattice, are
    read at their own resolution and upsampled (:mod:`geomon.sources._native`); the others are
    warped onto the AOI grid by odc-stac.

    Parameters
    ----------
    items
        STAC items (any UTM zone or MGRS tile); at least one.
    aoi
        The area: the cube is on its UTM grid at 10 m.
    chunk_px
        Dask chunk side, pixels.
    policy
        Retries, backoff and timeouts of the reads.
    assets
        Our band name (:data:`BANDS` and ``scl``) → the items' asset key; default identity.
    patch_url
        Applied to each asset href before it is read (e.g. URL signing).
    preflight
        Check every asset before loading (see :mod:`geomon.sources._preflight`).
    gdal
        Further GDAL options (e.g. an S3 endpoint), on top of the retry options.
    periods
        (first, last day) of each period the cube will be reduced over: the acquisitions of a
        period (by solar day) form one time chunk, read in one piece, so a per-period median
        needs no rechunking. Acquisitions outside them, or all without them: a chunk each.
    """
    keys = {band: (assets or {}).get(band, key) for band, key in EARTH_SEARCH_ASSETS.items()}
    patch = patch_url or (lambda u: u)
    gdal = {**policy.gdal_options(), **(gdal or {})}
    skipped = SkipLog()
    lon = aoi.geometry.centroid.x

    probes = [
        Probe(url=patch(_href(it.assets[key])), item_id=it.id, asset=band,
              datetime=_iso(it.datetime))
        for it in items for band, key in keys.items() if key in it.assets
    ]
    for it in items:
        for band, key in keys.items():
            if key not in it.assets:
                skipped.add(item_id=it.id, asset=band, datetime=_iso(it.datetime),
                            reason=f"item has no asset {key!r}")
    failed = probe_all(probes, gdal) if preflight else {}
    for p, reason in failed.items():
        skipped.add(item_id=p.item_id, asset=p.asset, datetime=p.datetime, reason=reason)
    usable = [it for it in _without(items, {(p.item_id, keys[p.asset]) for p in failed})
              if any(k in it.assets for k in keys.values())]
    for p in probes:
        if p not in failed:
            watch_read_failures(skipped, p.url, item_id=p.item_id, asset=p.asset,
                                datetime=p.datetime)

    missing = [b for b in keys if not any(keys[b] in it.assets for it in usable)]
    if missing:
        raise GeomonError(
            f"band(s) {', '.join(missing)} could not be read from any of the {len(items)} "
            "items found (see the skipped assets logged above)", field="source")
    usable.sort(key=lambda it: (-sum(k in it.assets for k in keys.values()), it.datetime))
    aliases = {b: k for b, k in keys.items() if b != k}
    # S2 L2A is uint16 DN (uint8 SCL) with nodata 0, also where a provider does not declare it
    kinds = {k: {"data_type": "uint8" if b == SCL else "uint16", "nodata": 0}
             for b, k in keys.items()}
    by_day: dict[date, pystac.Item] = {}
    for it in sorted(usable, key=lambda i: i.datetime):
        by_day.setdefault(solar_day(it.datetime, lon), it)

    stac_cfg = {"*": {"aliases": aliases, "assets": kinds}}
    grid = aoi_geobox(aoi)
    native = native_lattices(usable, keys, grid, stac_cfg)
    warped = [b for b in keys if b not in native]
    if native:
        log.debug("read at their own resolution and upsampled: %s", ", ".join(native))

    groups = _time_chunks(usable, periods, lon)
    chunks = {"time": -1 if periods else 1, "x": chunk_px, "y": chunk_px}

    def read(group: list[pystac.Item], geobox: GeoBox) -> xr.Dataset:
        load = functools.partial(odc.stac.load, group, groupby="solar_day", stac_cfg=stac_cfg,
                                 patch_url=patch_url, fail_on_error=False)
        parts = [load(bands=warped, geobox=geobox, chunks=chunks,
                      resampling={"*": "bilinear", SCL: "nearest"})] if warped else []
        for lattice in dict.fromkeys(native.values()):
            bands = [b for b in keys if native.get(b) == lattice]
            parts.append(read_native(load, geobox, lattice, bands, chunks=chunks,
                                     nearest={SCL}, nodata=0))
        return xr.merge(parts, join="outer", fill_value=0, compat="override",
                        combine_attrs="override")

    def on(geobox: GeoBox) -> xr.Dataset:
        with rasterio.Env(**gdal):
            raw = xr.concat([read(group, geobox) for group in groups], dim="time",
                            combine_attrs="override")
        days = [solar_day(_to_datetime(t), lon) for t in raw.time.values]
        scale_offset = {
            band: [_asset_scale_offset(by_day[d], keys[band]) for d in days] for band in BANDS
        }
        return to_reflectance(raw, scale_offset)

    data = on(grid)
    if data.sizes.get("time", 0) == 0:
        raise GeomonError("the items found cover none of the AOI", field="source")
    return Cube(data=data, items=[item_summary(i) for i in sorted(items, key=_order)],
                skipped=skipped, loader=on)


def _time_chunks(items: Sequence[pystac.Item], periods: Sequence[tuple[date, date]],
                 lon: float) -> list[list[pystac.Item]]:
    """``items`` split by the period their solar day falls in (a group per solar day outside
    them; one group without periods), groups in time order. Within a group the items keep
    their order, which is the order odc-stac mosaics them in."""
    if not periods:
        return [list(items)]
    groups: dict[date, list[pystac.Item]] = {}
    for it in items:
        day = solar_day(it.datetime, lon)
        start = next((first for first, last in periods if first <= day <= last), day)
        groups.setdefault(start, []).append(it)
    return [groups[start] for start in sorted(groups)]


def _href(asset: pystac.Asset) -> str:
    return asset.get_absolute_href() or asset.href


def _asset_scale_offset(item: pystac.Item, key: str) -> tuple[float, float]:
    asset = item.assets.get(key)
    return declared_scale_offset(asset.extra_fields if asset else {}, item.properties)


def _without(items: Sequence[pystac.Item], drop: set[tuple[str, str]]) -> list[pystac.Item]:
    out = []
    for it in items:
        gone = [key for (iid, key) in drop if iid == it.id]
        if gone:
            it = it.clone()
            for key in gone:
                it.assets.pop(key, None)
        out.append(it)
    return out


def _order(item: pystac.Item) -> tuple[Any, str]:
    return (item.datetime, item.id)


def _iso(t: datetime | None) -> str:
    return t.isoformat() if t else ""


def _to_datetime(t: Any) -> datetime:
    return datetime.fromtimestamp(t.astype("datetime64[s]").astype(int), UTC)


def solar_day(t: datetime, lon: float) -> date:
    """The local solar date of ``t`` at longitude ``lon`` (what odc-stac groups by)."""
    return (t + timedelta(hours=lon / 15.0)).date()


def item_summary(item: pystac.Item) -> dict[str, Any]:
    """What the manifest records of one item."""
    p = item.properties
    return {
        "id": item.id,
        "datetime": item.datetime.isoformat() if item.datetime else None,
        "cloud_cover": p.get("eo:cloud_cover"),
        "platform": p.get("platform"),
        "processing_baseline": p.get("s2:processing_baseline"),
    }
