"""Reading what review needs from a finished run folder (detections, periods, composites, AOI)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import rasterio
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from geomon.errors import GeomonError

__all__ = ["RunFolder", "RunPeriod", "default_store", "read_run"]

#: Name of the review store next to the pipelines' run folders.
STORE_NAME = "review.sqlite"


@dataclass(frozen=True)
class RunPeriod:
    """One period of a run (baseline periods included), as in its manifest."""

    label: str
    start: str
    end: str


@dataclass(frozen=True)
class RunFolder:
    """The parts of a finished run that review uses.

    Attributes
    ----------
    path, run_id, pipeline
        Where the run is, its id and pipeline name.
    aoi_id, aoi_name, crs
        The AOI and its UTM CRS (the run's grid).
    periods
        Every period with a composite, baseline first, in time order.
    sites
        ``detections.geojson`` in the AOI's UTM CRS (``periods`` kept as lists).
    outline
        The AOI polygon in the UTM CRS (the composites' footprint when the AOI file is gone).
    """

    path: Path
    run_id: str
    pipeline: str
    aoi_id: str
    aoi_name: str
    crs: str
    periods: tuple[RunPeriod, ...]
    sites: gpd.GeoDataFrame
    outline: BaseGeometry

    def composite(self, period: RunPeriod) -> Path | None:
        """The composite COG of ``period``, or None when the run has none."""
        p = self.path / "composites" / f"{period.label}.tif"
        return p if p.exists() else None

    def before(self, first_seen: str) -> RunPeriod | None:
        """The period before the one starting on ``first_seen`` (None when there is none)."""
        starts = [p.start for p in self.periods]
        if first_seen not in starts:
            earlier = [p for p in self.periods if p.end < first_seen]
            return earlier[-1] if earlier else None
        i = starts.index(first_seen)
        return self.periods[i - 1] if i > 0 else None

    @property
    def last(self) -> RunPeriod:
        """The run's last period."""
        return self.periods[-1]


def default_store(run_dir: Path) -> Path:
    """The default review store of a run: ``<outputs>/review.sqlite`` for ``<outputs>/<p>/<run>``.

    That is the same file for every pipeline writing to the same outputs folder, and the file the
    pipeline uses when it applies reviews (``<pipeline outputs>/review.sqlite``).
    """
    return Path(run_dir).resolve().parent.parent / STORE_NAME


def read_run(run_dir: str | Path) -> RunFolder:
    """Read a run folder written by ``geomon run``.

    Raises
    ------
    GeomonError
        When the folder, its manifest or its detections are missing or unreadable.
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise GeomonError("no such run folder", path=root)
    manifest = _read_json(root / "manifest.json")
    try:
        aoi, periods = manifest["aoi"], manifest["periods"]
        aoi_id, crs = str(aoi["id"]), str(aoi["crs"])
        run_periods = tuple(RunPeriod(str(p["period"]), str(p["start"]), str(p["end"]))
                            for p in periods)
    except (KeyError, TypeError) as exc:
        raise GeomonError(f"manifest lacks {exc}", path=root / "manifest.json",
                          field="aoi / periods") from None
    if not run_periods:
        raise GeomonError("manifest lists no periods", path=root / "manifest.json",
                          field="periods")
    sites = _read_sites(root / "detections.geojson", crs)
    bad = sites.loc[sites["aoi"] != aoi_id, "id"].tolist() if len(sites) else []
    if bad:
        raise GeomonError(f"sites {', '.join(bad[:3])} are not of AOI {aoi_id!r}",
                          path=root / "detections.geojson", field="aoi")
    return RunFolder(
        path=root, run_id=str(manifest.get("run_id") or root.name),
        pipeline=str(manifest.get("pipeline") or root.parent.name), aoi_id=aoi_id,
        aoi_name=str(aoi.get("name") or aoi_id), crs=crs, periods=run_periods, sites=sites,
        outline=_outline(aoi, crs, root, run_periods),
    )


def _read_json(path: Path) -> Any:
    if not path.exists():
        raise GeomonError("missing: is this a finished geomon run folder?", path=path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise GeomonError(f"not valid JSON ({exc.msg} at line {exc.lineno})", path=path) from None


def _read_sites(path: Path, crs: str) -> gpd.GeoDataFrame:
    doc = _read_json(path)
    rows = []
    for i, f in enumerate(doc.get("features", [])):
        props = dict(f.get("properties") or {})
        for key in ("id", "aoi", "first_seen", "last_seen", "area_ha", "confidence"):
            if key not in props:
                raise GeomonError("feature lacks a contract property", path=path,
                                  field=f"features[{i}].properties.{key}")
        props["geometry"] = shape(f["geometry"])
        rows.append(props)
    cols = ["id", "aoi", "class", "first_seen", "last_seen", "status", "area_ha", "confidence",
            "periods"]
    gdf = gpd.GeoDataFrame(rows, columns=[*cols, "geometry"] if not rows else None,
                           geometry="geometry", crs="EPSG:4326")
    return gdf.to_crs(crs)


def _outline(aoi: dict[str, Any], crs: str, root: Path, periods: tuple[RunPeriod, ...]
             ) -> BaseGeometry:
    """The AOI in the run's CRS: the run's own ``aoi.geojson`` if it wrote one, else the AOI
    file the manifest names, else the composites' footprint."""
    for file in (root / "aoi.geojson", aoi.get("file")):
        if not file or not Path(file).exists():
            continue
        try:
            doc = json.loads(Path(file).read_text(encoding="utf-8"))
            if doc.get("type") == "FeatureCollection":
                doc = doc["features"][0]
            if doc.get("properties", {}).get("id", aoi.get("id")) != aoi.get("id"):
                continue
            geom = gpd.GeoSeries([shape(doc["geometry"])], crs="EPSG:4326").to_crs(crs)[0]
            if geom.is_valid and not geom.is_empty:
                return geom
        except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
            continue
    for p in reversed(periods):
        tif = root / "composites" / f"{p.label}.tif"
        if tif.exists():
            with rasterio.open(tif) as src:
                return box(*src.bounds)
    raise GeomonError("no AOI file and no composites to outline the area", path=root)
