"""STAC source: a STAC API (pystac-client) or a static catalog / ItemCollection file (pystac).

Pixels are read with :func:`odc.stac.load` onto the AOI's UTM grid, mosaicked per solar day, and
converted to reflectance with each item's own ``raster:bands`` scale and offset.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import odc.stac
import pystac
import xarray as xr
from shapely.geometry import mapping, shape

from geomon.aoi import AOI
from geomon.errors import GeomonError, NoImageryError
from geomon.sources._base import BANDS, SCL, Cube

log = logging.getLogger(__name__)

__all__ = ["StacSource", "item_summary", "reflectance"]


class StacSource:
    """Items from a STAC API or a static file, loaded lazily with odc-stac.

    Parameters
    ----------
    config
        The pipeline's ``source`` block (:class:`geomon.config.SourceConfig`).
    """

    def __init__(self, config: Any) -> None:
        self.config = config

    @property
    def description(self) -> str:
        c = self.config
        return f"STAC API {c.url}" if c.url else f"static catalog {c.catalog}"

    def search(self, aoi: AOI, start: date, end: date) -> list[pystac.Item]:
        """Items of the configured collection over ``aoi`` between ``start`` and ``end``."""
        c = self.config
        if c.url:
            items = self._search_api(aoi, start, end)
        else:
            items = [i for i in _read_static(Path(c.catalog)) if _matches(i, aoi, start, end)]
            items = [i for i in items if i.collection_id in (None, c.collection)]
        kept = [i for i in items if i.properties.get("eo:cloud_cover", 0.0) <= c.max_cloud_cover]
        kept.sort(key=lambda i: (i.datetime, i.id))
        if not kept:
            raise NoImageryError(
                f"no {c.collection} imagery over AOI {aoi.id!r} from {start} to {end} "
                f"with cloud cover ≤ {c.max_cloud_cover:g}% in {self.description}"
            )
        return kept[: c.max_items]

    def load(self, aoi: AOI, start: date, end: date, *, chunk_px: int = 1024) -> Cube:
        """Lazy reflectance cube over ``aoi`` (see :mod:`geomon.sources`)."""
        items = self.search(aoi, start, end)
        log.info("found %d items in %s", len(items), self.description)
        raw = odc.stac.load(
            items,
            bands=[*BANDS, SCL],
            crs=aoi.crs,
            resolution=10,
            geopolygon=mapping(aoi.geometry),
            groupby="solar_day",
            chunks={"time": 1, "x": chunk_px, "y": chunk_px},
            resampling={"*": "bilinear", SCL: "nearest"},
            fail_on_error=True,
        )
        data = reflectance(raw, items, lon=aoi.geometry.centroid.x)
        return Cube(data=data, items=[item_summary(i) for i in items])

    def _search_api(self, aoi: AOI, start: date, end: date) -> list[pystac.Item]:
        import pystac_client

        c = self.config
        try:
            client = pystac_client.Client.open(c.url)
            search = client.search(
                collections=[c.collection],
                intersects=mapping(aoi.geometry),
                datetime=f"{start.isoformat()}T00:00:00Z/{end.isoformat()}T23:59:59Z",
                max_items=c.max_items,
            )
            return list(search.items())
        except pystac_client.exceptions.APIError as exc:
            raise GeomonError(f"STAC API refused the search: {exc}", field="source.url") from None
        except OSError as exc:
            raise GeomonError(f"cannot reach STAC API {c.url}: {exc}", field="source.url") from None


def _read_static(path: Path) -> Iterable[pystac.Item]:
    if not path.exists():
        raise GeomonError("catalog file does not exist", path=path, field="source.catalog")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise GeomonError(f"not valid JSON ({exc.msg})", path=path, field="source.catalog") from None
    if doc.get("type") == "FeatureCollection":
        return pystac.ItemCollection.from_dict(doc, preserve_dict=False).items
    if doc.get("type") in ("Catalog", "Collection"):
        cat = pystac.read_file(str(path))
        return cat.get_items(recursive=True)
    raise GeomonError(
        f"unrecognised STAC document type {doc.get('type')!r}",
        path=path,
        field="source.catalog",
        expected="a Catalog, Collection or ItemCollection (FeatureCollection)",
    )


def _matches(item: pystac.Item, aoi: AOI, start: date, end: date) -> bool:
    if item.geometry is None or not shape(item.geometry).intersects(aoi.geometry):
        return False
    lo = datetime.combine(start, time.min, tzinfo=UTC)
    hi = datetime.combine(end, time.max, tzinfo=UTC)
    return item.datetime is not None and lo <= item.datetime <= hi


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


def _solar_day(t: datetime, lon: float) -> date:
    return (t + timedelta(hours=lon / 15.0)).date()


def _scale_offset(item: pystac.Item, band: str) -> tuple[float, float]:
    asset = item.assets.get(band)
    rb = (asset.extra_fields.get("raster:bands") or [{}])[0] if asset else {}
    return float(rb.get("scale", 1e-4)), float(rb.get("offset", 0.0))


def reflectance(raw: xr.Dataset, items: list[pystac.Item], *, lon: float) -> xr.Dataset:
    """Convert DN to surface reflectance with each item's declared scale and offset.

    Items older than processing baseline 04.00 declare offset 0 and newer ones -0.1; a cube that
    spans both gets each time step's own values. DN 0 is nodata and becomes NaN.
    """
    by_day: dict[date, pystac.Item] = {}
    for it in items:
        by_day.setdefault(_solar_day(it.datetime, lon), it)
    times = [
        _solar_day(datetime.fromtimestamp(t.astype("datetime64[s]").astype(int), UTC), lon)
        for t in raw.time.values
    ]
    out = {}
    for band in BANDS:
        pairs = [_scale_offset(by_day[d], band) for d in times]
        scale = xr.DataArray(np.array([p[0] for p in pairs], "float32"), dims="time")
        offset = xr.DataArray(np.array([p[1] for p in pairs], "float32"), dims="time")
        dn = raw[band]
        out[band] = (dn.astype("float32") * scale + offset).where(dn != 0)
        out[band].attrs = {"units": "reflectance"}
    out[SCL] = raw[SCL]
    ds = xr.Dataset(out, coords=raw.coords, attrs=raw.attrs)
    return ds
