"""The field-visit list: sites to check on the ground, as CSV and as GPX waypoints.

A site is on the list when a reviewer marked it ``needs_field_visit``, when reviewers disagree
(``conflict``), or when it is still ``pending``; pending sites are ranked and only the first
``max_pending`` kept. The list is ordered by *priority* = area (ha) × (1 − confidence): large
sites the detector was unsure of come first. Waypoints sit at a point inside each site
(its representative point), named by the site id, for handheld GPS units.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd

from geomon.review._decisions import utc_now
from geomon.review._package import reviewed_frame
from geomon.review._run import default_store, read_run
from geomon.review._store import ReviewStore
from geomon.runs import write_text

__all__ = ["FieldList", "field_list", "field_visit_sites"]

_GPX_NS = "http://www.topografix.com/GPX/1/1"
_COLUMNS = ["rank", "id", "site_key", "review_status", "reason", "area_ha", "confidence",
            "priority", "lat", "lon", "first_seen", "last_seen", "status", "reviewer", "note"]


@dataclass(frozen=True)
class FieldList:
    """Where the field-visit list was written and how many sites it holds."""

    csv: Path
    gpx: Path
    n_sites: int


def field_visit_sites(sites: gpd.GeoDataFrame, *, max_pending: int | None = 20
                      ) -> gpd.GeoDataFrame:
    """Select and order sites for a visit from :func:`reviewed_frame` output (any CRS).

    Adds ``priority`` = ``area_ha × (1 − confidence)``, ``reason``, ``lat``/``lon`` (a point
    inside the site) and ``rank`` (1 = visit first).
    """
    s = sites.copy()
    s["priority"] = (s["area_ha"].astype(float) * (1 - s["confidence"].astype(float))).round(4)
    flagged = s[s["review_status"].isin(["needs_field_visit", "conflict"])]
    pending = s[s["review_status"] == "pending"].sort_values("priority", ascending=False,
                                                             kind="stable")
    if max_pending is not None:
        pending = pending.head(max_pending)
    chosen = gpd.GeoDataFrame(
        [*flagged.to_dict("records"), *pending.to_dict("records")],
        columns=s.columns, geometry=s.geometry.name, crs=s.crs,
    ).sort_values(["priority", "id"], ascending=[False, True], kind="stable")
    pts = chosen.geometry.representative_point().to_crs(4326) if len(chosen) else []
    chosen["lat"] = [round(p.y, 6) for p in pts]
    chosen["lon"] = [round(p.x, 6) for p in pts]
    chosen["reason"] = [_reason(r) for _, r in chosen.iterrows()]
    chosen["rank"] = range(1, len(chosen) + 1)
    return chosen.reset_index(drop=True)


def _reason(row) -> str:
    if row["review_status"] == "needs_field_visit":
        return f"marked for a field visit by {row['reviewer']}"
    if row["review_status"] == "conflict":
        return f"reviewers disagree ({row['reviewer']})"
    return "not reviewed yet; detector unsure" if row["confidence"] < 0.7 else "not reviewed yet"


def field_list(
    run_dir: str | Path,
    *,
    out: str | Path,
    store: str | Path | None = None,
    max_pending: int | None = 20,
) -> FieldList:
    """Write ``fieldlist.csv`` and ``fieldlist.gpx`` for a run's sites into ``out``.

    Parameters
    ----------
    run_dir
        A finished run folder.
    out
        Folder to write into (created).
    store
        The review store (default ``<outputs>/review.sqlite``).
    max_pending
        How many pending sites to add, highest priority first (None: all).
    """
    run = read_run(run_dir)
    st = ReviewStore(Path(store) if store is not None else default_store(run.path))
    chosen = field_visit_sites(reviewed_frame(run, st), max_pending=max_pending)
    out = Path(out)
    csv_path = write_text(out / "fieldlist.csv", _csv(chosen))
    title = f"geomon field visits: {run.aoi_name}, run {run.run_id}"
    gpx_path = write_text(out / "fieldlist.gpx", _gpx(chosen, title))
    return FieldList(csv=csv_path, gpx=gpx_path, n_sites=len(chosen))


def _csv(chosen: gpd.GeoDataFrame) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(_COLUMNS)
    for _, r in chosen.iterrows():
        w.writerow([r[c] if r[c] is not None else "" for c in _COLUMNS])
    return buf.getvalue()


def _gpx(chosen: gpd.GeoDataFrame, title: str) -> str:
    ET.register_namespace("", _GPX_NS)
    root = ET.Element(f"{{{_GPX_NS}}}gpx", {"version": "1.1", "creator": "geomon review"})
    meta = ET.SubElement(root, f"{{{_GPX_NS}}}metadata")
    ET.SubElement(meta, f"{{{_GPX_NS}}}name").text = title
    ET.SubElement(meta, f"{{{_GPX_NS}}}time").text = utc_now()
    for _, r in chosen.iterrows():
        wpt = ET.SubElement(root, f"{{{_GPX_NS}}}wpt",
                            {"lat": f"{r['lat']:.6f}", "lon": f"{r['lon']:.6f}"})
        ET.SubElement(wpt, f"{{{_GPX_NS}}}name").text = str(r["id"])
        ET.SubElement(wpt, f"{{{_GPX_NS}}}desc").text = (
            f"{float(r['area_ha']):.2f} ha, {r['review_status'].replace('_', ' ')}, "
            f"confidence {float(r['confidence']):.2f}, priority {r['rank']}; {r['reason']}; "
            f"key {r['site_key']}")
        ET.SubElement(wpt, f"{{{_GPX_NS}}}sym").text = "Flag, Red"
        ET.SubElement(wpt, f"{{{_GPX_NS}}}type").text = str(r["review_status"])
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") \
        + "\n"
