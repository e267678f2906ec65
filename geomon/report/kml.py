"""KML and KMZ for Google Earth: digging sites coloured by status, with a description balloon.

Geometry comes from :func:`geomon.export.feature_collection` (EPSG:4326 lon/lat, exterior rings
counter-clockwise), so the KML shows exactly what ``detections.geojson`` holds.
"""

from __future__ import annotations

import html
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import geopandas as gpd

from geomon.export import feature_collection
from geomon.report.maps import AOI_COLOUR, LOOKALIKE_COLOUR, STATUS_COLOURS
from geomon.runs import atomic_path, write_text

__all__ = ["KML_NS", "kml_document", "write_kml", "write_kmz"]

KML_NS = "http://www.opengis.net/kml/2.2"


def _kml_colour(hex_rgb: str, alpha: int) -> str:
    """``#rrggbb`` → KML's ``aabbggrr``."""
    r, g, b = hex_rgb[1:3], hex_rgb[3:5], hex_rgb[5:7]
    return f"{alpha:02x}{b}{g}{r}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _style(doc: ET.Element, sid: str, colour: str, *, fill_alpha: int, width: float = 2.0
           ) -> None:
    style = _sub(doc, "Style", id=sid)
    line = _sub(style, "LineStyle")
    _sub(line, "color", _kml_colour(colour, 255))
    _sub(line, "width", f"{width:g}")
    poly = _sub(style, "PolyStyle")
    _sub(poly, "color", _kml_colour(colour, fill_alpha))
    _sub(poly, "fill", "1" if fill_alpha else "0")


def _ring(coords: Sequence[Sequence[float]]) -> str:
    return " ".join(f"{x:.7f},{y:.7f},0" for x, y, *_ in coords)


def _geometry(parent: ET.Element, geom: dict[str, Any]) -> None:
    polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
    if len(polys) > 1:
        parent = _sub(parent, "MultiGeometry")
    for rings in polys:
        poly = _sub(parent, "Polygon")
        _sub(poly, "tessellate", "1")
        for k, ring in enumerate(rings):
            boundary = _sub(poly, "outerBoundaryIs" if k == 0 else "innerBoundaryIs")
            _sub(_sub(boundary, "LinearRing"), "coordinates", _ring(ring))


def _balloon(props: dict[str, Any], fields: Sequence[tuple[str, str, str]]) -> str:
    rows = "".join(
        f"<tr><th align='left'>{html.escape(label)}</th>"
        f"<td>{html.escape(_fmt(props.get(key), unit))}</td></tr>"
        for key, label, unit in fields
    )
    return f"<table>{rows}</table>"


def _fmt(v: Any, unit: str) -> str:
    if v is None:
        return "–"
    if isinstance(v, list):
        return ", ".join(map(str, v)) or "–"
    if isinstance(v, float):
        v = f"{v:.2f}"
    return f"{v} {unit}".strip()


_SITE_FIELDS = [("id", "site", ""), ("status", "status (last period)", ""),
                ("area_ha", "area", "ha"), ("first_seen", "first seen", ""),
                ("last_seen", "last seen", ""), ("confidence", "confidence (0–1)", ""),
                ("periods", "periods dug (start dates)", "")]
_LOOKALIKE_FIELDS = [("id", "id", ""), ("class", "kind", ""), ("area_ha", "area", "ha"),
                     ("first_seen", "first seen", ""), ("last_seen", "last seen", "")]


def _placemarks(folder: ET.Element, fc: dict[str, Any], *, style: Any,
                fields: Sequence[tuple[str, str, str]], name_key: str = "id") -> None:
    for f in fc["features"]:
        props = f["properties"]
        pm = _sub(folder, "Placemark", id=str(props.get("id", "")))
        _sub(pm, "name", str(props.get(name_key, "")))
        _sub(pm, "description", _balloon(props, fields))
        _sub(pm, "styleUrl", "#" + (style(props) if callable(style) else style))
        if props.get("first_seen"):
            _sub(_sub(pm, "TimeSpan"), "begin", str(props["first_seen"]))
        data = _sub(pm, "ExtendedData")
        for key, label, _unit in fields:
            d = _sub(data, "Data", name=key)
            _sub(d, "displayName", label)
            v = props.get(key)
            _sub(d, "value", ",".join(map(str, v)) if isinstance(v, list) else
                 ("" if v is None else str(v)))
        _geometry(pm, f["geometry"])


def kml_document(mining: gpd.GeoDataFrame, *, confounders: gpd.GeoDataFrame | None = None,
                 aoi: gpd.GeoDataFrame | None = None, name: str = "geomon digging sites",
                 description: str = "") -> str:
    """The KML document (text): folders "Digging sites" (one Placemark per site),
    "Look-alikes (not digging)" and "Area of interest"."""
    root = ET.Element("kml", xmlns=KML_NS)
    doc = _sub(root, "Document")
    _sub(doc, "name", name)
    if description:
        _sub(doc, "description", description)
    for status, colour in STATUS_COLOURS.items():
        _style(doc, f"site-{status}", colour, fill_alpha=0x55)
    _style(doc, "lookalike", LOOKALIKE_COLOUR, fill_alpha=0, width=1.2)
    _style(doc, "aoi", AOI_COLOUR, fill_alpha=0, width=2.5)

    sites = _sub(doc, "Folder", id="sites")
    _sub(sites, "name", "Digging sites")
    _sub(sites, "description", "Coloured by status in the last period: "
         + ", ".join(STATUS_COLOURS) + ".")
    fields = _SITE_FIELDS + ([("review_status", "review", "")]
                             if "review_status" in mining.columns else [])
    _placemarks(sites, feature_collection(mining), style=lambda p: f"site-{p['status']}",
                fields=fields)
    if confounders is not None and len(confounders):
        folder = _sub(doc, "Folder", id="lookalikes")
        _sub(folder, "name", "Look-alikes (not digging)")
        _sub(folder, "visibility", "0")
        _placemarks(folder, feature_collection(confounders), style="lookalike",
                    fields=_LOOKALIKE_FIELDS)
    if aoi is not None and len(aoi):
        folder = _sub(doc, "Folder", id="aoi")
        _sub(folder, "name", "Area of interest")
        _placemarks(folder, feature_collection(aoi), style="aoi", name_key="name",
                    fields=[("id", "id", ""), ("name", "name", ""), ("country", "country", "")])
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def write_kml(path: Path, text: str) -> Path:
    """Write a KML document (atomic)."""
    return write_text(path, text + "\n")


def write_kmz(path: Path, text: str) -> Path:
    """Write a KMZ: the KML document zipped as ``doc.kml`` (atomic)."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("doc.kml", text + "\n")
    return path
