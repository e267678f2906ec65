"""Local source: a folder of GeoTIFF/COG files delivered offline.

Naming rule (case-insensitive, ``.tif`` or ``.tiff``)::

    <YYYYMMDD>[T<HHMMSS>][_<scene>]_<band>.tif      e.g. 20240105_B04.tif, 20240105_29PQJ_scl.tif

``band`` is one of our names (``blue green red nir swir16 swir22 scl``) or the Sentinel-2 code
(``B02 B03 B04 B08 B11 B12 SCL``); ``nir08``/``B8A`` files are recognised but not read (no step
uses the band). ``scene`` tells apart tiles of the same day (each file set of one date and scene
is one acquisition; the same day's scenes are mosaicked). Files in any UTM zone are reprojected
onto the AOI grid.

Instead of the naming rule, an ``index.csv`` in the folder may list the files, one per row, with
columns ``path,datetime,band`` and optionally ``scene,cloud_cover,platform,processing_baseline,
scale,offset``. Scale and offset come from the index, else the GeoTIFF's own scale/offset tags,
else the processing baseline's rule (``s2:processing_baseline`` ≥ 04.00: −0.1), else 0.0001 and 0.
"""

from __future__ import annotations

import csv
import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pystac
import rasterio
from odc.geo.geobox import GeoBox
from shapely.geometry import mapping

from geomon.aoi import AOI
from geomon.errors import GeomonError, NoImageryError
from geomon.sources._base import BANDS, SCL, Cube
from geomon.sources._load_items import load_items
from geomon.sources._reflectance import DEFAULT_SCALE, baseline_offset
from geomon.sources._retry import RetryPolicy

log = logging.getLogger(__name__)

__all__ = ["LocalSource", "scan_folder"]

INDEX_FILE = "index.csv"
_NAME = re.compile(
    r"^(?P<date>\d{8})(?:T(?P<time>\d{6}))?(?:_(?P<scene>[A-Za-z0-9-]+))?_(?P<band>[A-Za-z0-9]+)"
    r"\.tiff?$", re.IGNORECASE)
_S2_CODES = {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir", "B8A": "nir08",
             "B11": "swir16", "B12": "swir22", "SCL": "scl"}
_OURS = {b.lower(): b for b in (*BANDS, SCL, "nir08")}


@dataclass(frozen=True)
class _File:
    path: Path
    when: datetime
    band: str
    scene: str
    props: dict[str, Any]
    scale: float | None = None
    offset: float | None = None


class LocalSource:
    """Imagery from a folder of GeoTIFF/COG files (see the module docstring for the naming rule).

    Parameters
    ----------
    config
        The pipeline's ``source`` block (``kind: local``, ``folder``).
    """

    def __init__(self, config: Any) -> None:
        self.config = config
        self.policy = RetryPolicy.from_config(config)

    def load(self, aoi: AOI, start: date, end: date, *, chunk_px: int = 1024,
             cloud_probability: bool = False,
             periods: Sequence[tuple[date, date]] = ()) -> Cube:
        """Lazy reflectance cube over ``aoi`` of the files dated ``start`` to ``end``.

        A folder of L2A files has no cloud probability: ``cloud_probability`` raises.
        """
        if cloud_probability:
            raise GeomonError("a local folder of L2A files provides no cloud probability "
                              "(s2cloudless needs Level-1C bands)",
                              field="mask.cloud_probability",
                              expected="source kind stac or sentinelhub")
        folder = Path(self.config.folder)
        lo = datetime.combine(start, time.min, tzinfo=UTC)
        hi = datetime.combine(end, time.max, tzinfo=UTC)
        items = [i for i in scan_folder(folder)
                 if lo <= i.datetime <= hi and _intersects(i, aoi)
                 and (i.properties.get("eo:cloud_cover") or 0) <= self.config.max_cloud_cover]
        if not items:
            raise NoImageryError(f"no imagery over AOI {aoi.id!r} from {start} to {end} in "
                                 f"folder {folder}", field="source.folder")
        log.info("found %d acquisitions in %s", len(items), folder)
        return load_items(items[: self.config.max_items], aoi, chunk_px=chunk_px,
                          policy=self.policy, periods=periods)


def scan_folder(folder: Path) -> list[pystac.Item]:
    """One STAC item per acquisition (date and scene) found in ``folder``."""
    if not folder.is_dir():
        raise GeomonError("folder does not exist", path=folder, field="source.folder")
    index = folder / INDEX_FILE
    files = _from_index(index) if index.exists() else _from_names(folder)
    if not files:
        raise GeomonError("no GeoTIFF named <YYYYMMDD>[_<scene>]_<band>.tif and no index.csv",
                          path=folder, field="source.folder")
    groups: dict[tuple[datetime, str], list[_File]] = defaultdict(list)
    for f in files:
        groups[(f.when, f.scene)].append(f)
    return sorted((_item(when, scene, fs) for (when, scene), fs in groups.items()),
                  key=lambda i: (i.datetime, i.id))


def _band(name: str, where: Path) -> str | None:
    return _S2_CODES.get(name.upper()) or _OURS.get(name.lower())


def _from_names(folder: Path) -> list[_File]:
    out = []
    for path in sorted(folder.iterdir()):
        m = _NAME.match(path.name)
        if not m or not path.is_file():
            continue
        band = _band(m["band"], path)
        if band is None:
            continue
        when = datetime.strptime(m["date"] + (m["time"] or "120000"), "%Y%m%d%H%M%S")
        out.append(_File(path=path.resolve(), when=when.replace(tzinfo=UTC), band=band,
                         scene=m["scene"] or "", props={}))
    return out


def _from_index(index: Path) -> list[_File]:
    out = []
    with index.open(newline="", encoding="utf-8") as fh:
        for n, row in enumerate(csv.DictReader(fh), start=2):
            try:
                band = _band(row["band"], index)
                if band is None:
                    raise ValueError(f"unknown band {row['band']!r}")
                when = datetime.fromisoformat(row["datetime"].replace("Z", "+00:00"))
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC) if len(row["datetime"]) > 10 else \
                        datetime.combine(when.date(), time(12), tzinfo=UTC)
                path = Path(row["path"])
                path = path if path.is_absolute() else (index.parent / path).resolve()
                props = {k: row[k] for k in ("platform", "processing_baseline") if row.get(k)}
                if row.get("cloud_cover"):
                    props["cloud_cover"] = float(row["cloud_cover"])
                out.append(_File(
                    path=path, when=when.astimezone(UTC), band=band, scene=row.get("scene") or "",
                    props=props,
                    scale=float(row["scale"]) if row.get("scale") else None,
                    offset=float(row["offset"]) if row.get("offset") else None))
            except (KeyError, ValueError) as exc:
                raise GeomonError(f"row {n}: {exc}", path=index, field="source.folder",
                                  expected="columns path,datetime,band[,scene,cloud_cover,"
                                           "platform,processing_baseline,scale,offset]") from None
    return out


def _item(when: datetime, scene: str, files: list[_File]) -> pystac.Item:
    props: dict[str, Any] = {}
    for f in files:
        props.update(f.props)
    baseline = props.pop("processing_baseline", None)
    properties: dict[str, Any] = {"platform": props.get("platform")}
    if baseline:
        properties["s2:processing_baseline"] = baseline
    if "cloud_cover" in props:
        properties["eo:cloud_cover"] = props["cloud_cover"]
    footprint = None
    assets = {}
    for f in sorted(files, key=lambda f: f.band):
        try:
            with rasterio.open(f.path) as src:
                gb = GeoBox(src.shape, src.transform, src.crs)
                scale, offset = src.scales[0], src.offsets[0]
                epsg = src.crs.to_epsg() if src.crs else None
        except rasterio.errors.RasterioIOError as exc:
            raise GeomonError(f"cannot read: {exc}", path=f.path, field="source.folder") from None
        if epsg is None:
            raise GeomonError("GeoTIFF has no EPSG coordinate system", path=f.path,
                              field="source.folder")
        if f.scale is not None or f.offset is not None:
            scale, offset = f.scale or DEFAULT_SCALE, f.offset or 0.0
        elif (scale, offset) == (1.0, 0.0):
            scale, offset = DEFAULT_SCALE, baseline_offset(baseline)
        geom = gb.extent.to_crs("EPSG:4326").geom
        footprint = geom if footprint is None else footprint.union(geom)
        rb: dict[str, Any] = {"nodata": 0}
        if f.band != SCL:
            rb.update(scale=scale, offset=offset)
        assets[f.band] = pystac.Asset(href=str(f.path), media_type=pystac.MediaType.GEOTIFF,
                                      roles=["data"], extra_fields={
                                          "proj:epsg": epsg, "proj:shape": list(gb.shape.yx),
                                          "proj:transform": list(gb.affine)[:6],
                                          "raster:bands": [rb]})
    stamp = when.strftime("%Y%m%dT%H%M%S")
    item = pystac.Item(id=f"local_{stamp}" + (f"_{scene}" if scene else ""),
                       geometry=mapping(footprint), bbox=list(footprint.bounds), datetime=when,
                       properties=properties)
    item.stac_extensions.append("https://stac-extensions.github.io/projection/v1.1.0/schema.json")
    for band, asset in assets.items():
        item.add_asset(band, asset)
    return item


def _intersects(item: pystac.Item, aoi: AOI) -> bool:
    from shapely.geometry import shape

    return shape(item.geometry).intersects(aoi.geometry)
