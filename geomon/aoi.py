"""Areas of interest: one GeoJSON Feature per file in ``aoi/`` (DESIGN.md section 3).

An AOI is loaded and validated once; everything downstream works with the frozen :class:`AOI`.

Examples
--------
>>> from geomon.aoi import load_aoi
>>> aoi = load_aoi("seguela")              # doctest: +SKIP
>>> aoi.utm_epsg, round(aoi.area_km2)      # doctest: +SKIP
(32629, 160)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from pyproj import CRS, Transformer
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from geomon.errors import GeomonError

__all__ = ["AOI", "aoi_dir", "list_aois", "load_aoi", "read_aoi_file", "utm_epsg_for"]

REQUIRED_PROPERTIES = ("id", "name", "country", "deposit_type", "catchment", "notes", "parameters")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_ISO3 = re.compile(r"^[A-Z]{3}$")

#: Largest AOI accepted unless a pipeline raises the limit (about 60 km x 60 km).
DEFAULT_MAX_AREA_KM2 = 3600.0


def aoi_dir() -> Path:
    """The repository's ``aoi/`` folder (next to the package when run from a checkout)."""
    return Path(__file__).resolve().parent.parent / "aoi"


def utm_epsg_for(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 / UTM zone containing ``(lon, lat)``.

    >>> utm_epsg_for(-6.7, 8.0)
    32629
    >>> utm_epsg_for(32.3, -19.9)
    32736
    """
    zone = min(60, int((lon + 180.0) // 6.0) + 1)
    return (32600 if lat >= 0 else 32700) + zone


@dataclass(frozen=True)
class AOI:
    """A validated area of interest.

    ``geometry`` is in EPSG:4326 (lon/lat); :attr:`utm_geometry` is the same area on the AOI's own
    UTM grid, which is the grid all imagery of this AOI is loaded onto.
    """

    id: str
    name: str
    country: str
    deposit_type: str
    catchment: str
    notes: str
    geometry: BaseGeometry
    parameters: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def utm_epsg(self) -> int:
        c = self.geometry.centroid
        return utm_epsg_for(c.x, c.y)

    @property
    def crs(self) -> str:
        return f"EPSG:{self.utm_epsg}"

    @property
    def utm_geometry(self) -> BaseGeometry:
        tr = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_epsg(self.utm_epsg), always_xy=True)
        return shapely.transform(self.geometry, tr.transform, interleaved=False)

    @property
    def area_km2(self) -> float:
        return self.utm_geometry.area / 1e6

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees."""
        return tuple(self.geometry.bounds)  # type: ignore[return-value]

    def to_feature(self) -> dict[str, Any]:
        props = {k: getattr(self, k) for k in REQUIRED_PROPERTIES}
        return {"type": "Feature", "properties": props, "geometry": mapping(self.geometry)}


def list_aois(directory: Path | None = None) -> list[Path]:
    """AOI files in ``directory`` (default: the repository's ``aoi/``), sorted by name."""
    directory = directory or aoi_dir()
    return sorted(directory.glob("*.geojson"))


def load_aoi(
    ref: str | Path,
    *,
    directory: Path | None = None,
    max_area_km2: float | None = DEFAULT_MAX_AREA_KM2,
) -> AOI:
    """Load an AOI by id (a file ``<id>.geojson`` in ``directory``) or by path."""
    path = Path(ref)
    if path.suffix != ".geojson":
        directory = directory or aoi_dir()
        path = directory / f"{ref}.geojson"
        if not path.exists():
            known = ", ".join(p.stem for p in list_aois(directory)) or "none"
            raise GeomonError(
                f"unknown AOI id {str(ref)!r}", path=directory, expected=f"one of: {known}"
            )
    return read_aoi_file(path, max_area_km2=max_area_km2)


def read_aoi_file(path: Path, *, max_area_km2: float | None = DEFAULT_MAX_AREA_KM2) -> AOI:
    """Read and validate one AOI file; any problem raises :class:`GeomonError` naming the field."""
    path = Path(path)
    if not path.exists():
        raise GeomonError("AOI file does not exist", path=path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise GeomonError(f"not valid JSON ({exc.msg} at line {exc.lineno})", path=path) from None
    if not isinstance(doc, dict) or doc.get("type") != "Feature":
        raise GeomonError(
            "AOI file must hold one GeoJSON Feature", path=path, field="type", expected="'Feature'"
        )
    props = doc.get("properties")
    if not isinstance(props, dict):
        raise GeomonError("missing properties", path=path, field="properties", expected="an object")
    for key in REQUIRED_PROPERTIES:
        if key not in props:
            raise GeomonError("missing required property", path=path, field=f"properties.{key}")
    for key in REQUIRED_PROPERTIES[:-1]:
        if not isinstance(props[key], str):
            raise GeomonError(
                f"wrong type {type(props[key]).__name__}",
                path=path,
                field=f"properties.{key}",
                expected="a string",
            )
    if not _SLUG.match(props["id"]) or props["id"] != path.stem:
        raise GeomonError(
            f"bad id {props['id']!r}",
            path=path,
            field="properties.id",
            expected=f"a lower-case slug equal to the file name ({path.stem!r})",
        )
    if not _ISO3.match(props["country"]):
        raise GeomonError(
            f"bad country {props['country']!r}",
            path=path,
            field="properties.country",
            expected="an ISO 3166-1 alpha-3 code such as 'CIV'",
        )
    if not isinstance(props["parameters"], dict):
        raise GeomonError(
            "wrong type", path=path, field="properties.parameters", expected="an object"
        )
    geom = _read_geometry(doc.get("geometry"), path)
    aoi = AOI(
        id=props["id"],
        name=props["name"],
        country=props["country"],
        deposit_type=props["deposit_type"],
        catchment=props["catchment"],
        notes=props["notes"],
        geometry=geom,
        parameters=props["parameters"],
        path=path,
    )
    if max_area_km2 is not None and aoi.area_km2 > max_area_km2:
        raise GeomonError(
            f"AOI covers {aoi.area_km2:,.0f} km², more than the limit of {max_area_km2:,.0f} km²",
            path=path,
            field="geometry",
            expected="a smaller area, or a higher max_aoi_km2 in the pipeline",
        )
    return aoi


def _read_geometry(raw: Any, path: Path) -> BaseGeometry:
    if not isinstance(raw, dict) or raw.get("type") not in ("Polygon", "MultiPolygon"):
        got = raw.get("type") if isinstance(raw, dict) else type(raw).__name__
        raise GeomonError(
            f"geometry type is {got!r}",
            path=path,
            field="geometry",
            expected="Polygon or MultiPolygon",
        )
    try:
        geom = shape(raw)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise GeomonError(f"unreadable coordinates ({exc})", path=path, field="geometry") from None
    if geom.is_empty:
        raise GeomonError("geometry is empty", path=path, field="geometry")
    west, south, east, north = geom.bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise GeomonError(
            f"coordinates out of range (bounds {west:g}, {south:g}, {east:g}, {north:g})",
            path=path,
            field="geometry.coordinates",
            expected="longitude/latitude in degrees (EPSG:4326), longitude first",
        )
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        raise GeomonError(
            f"invalid geometry: {reason}",
            path=path,
            field="geometry",
            expected="a valid polygon without self-intersections",
        )
    if not isinstance(geom, Polygon | MultiPolygon):  # pragma: no cover - guarded above
        raise GeomonError("not a polygon", path=path, field="geometry")
    return shapely.geometry.polygon.orient(geom, 1.0) if isinstance(geom, Polygon) else geom
