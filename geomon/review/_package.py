"""A review package: everything a reviewer needs for one run, in one folder that works offline.

::

    <package>/
      index.html          the review page (cards, controls, JSON export)
      sites.gpkg          layer ``sites`` (EPSG:4326, editable in QGIS) and layer ``exported``
                          (the review fields as exported: import compares against it)
      sites.geojson       the same sites, RFC 7946
      chips/<id>_{before,after}_{tc,fc}.png   image chips, site outline in yellow
      locator/<id>.png    where the site is in the AOI
      package.json        AOI, run, store, site keys

The package is built in a temporary folder next to its destination and swapped in whole.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio

from geomon.export import write_geojson
from geomon.review._chips import CHIP_KINDS, LocatorMaps, site_chips, write_png
from geomon.review._decisions import REVIEW_STATES, STATUSES, SiteReview, utc_now
from geomon.review._effects import review_sites
from geomon.review._page import render_page, summary_text
from geomon.review._run import RunFolder, default_store, read_run
from geomon.review._store import ReviewStore, SiteIdentity
from geomon.runs import write_json, write_text

__all__ = [
    "PACKAGE_FORMAT",
    "ReviewPackage",
    "default_package_dir",
    "export_package",
    "package_is_current",
    "read_package",
    "reviewed_frame",
]

PACKAGE_FORMAT = "geomon-review-package"

#: Review fields of the ``sites`` layer, which a reviewer may edit.
EDITABLE = ("review_status", "reviewer", "note", "reviewed_at")


@dataclass(frozen=True)
class ReviewPackage:
    """Where a review package was written and what it holds."""

    root: Path
    aoi_id: str
    run_id: str
    store: Path
    n_sites: int

    @property
    def page(self) -> Path:
        return self.root / "index.html"

    @property
    def gpkg(self) -> Path:
        return self.root / "sites.gpkg"

    @property
    def geojson(self) -> Path:
        return self.root / "sites.geojson"


def default_package_dir(run_dir: Path) -> Path:
    """``<outputs>/review/<run id>`` for a run in ``<outputs>/<pipeline>/<run id>``."""
    run_dir = Path(run_dir).resolve()
    return run_dir.parent.parent / "review" / run_dir.name


def reviewed_frame(run: RunFolder, store: ReviewStore) -> gpd.GeoDataFrame:
    """The run's sites (UTM) with identity and review columns.

    Adds ``site_key``, ``review_status``, ``reviewer``, ``note``, ``reviewed_at``, ``lineage``
    (text: what the key was split or merged from) and ``review`` (the :class:`SiteReview`).
    """
    identities, states = review_sites(run.sites, aoi_id=run.aoi_id, store=store,
                                      run_id=run.run_id)
    out = run.sites.copy()
    reviews = [states[i.site_key] for i in identities]
    out["site_key"] = [i.site_key for i in identities]
    out["review_status"] = [r.status for r in reviews]
    out["reviewer"] = [r.reviewer for r in reviews]
    out["note"] = [r.note for r in reviews]
    out["reviewed_at"] = [r.reviewed_at for r in reviews]
    out["lineage"] = [_lineage_text(store, i) for i in identities]
    out["review"] = reviews
    return out


def _lineage_text(store: ReviewStore, identity: SiteIdentity) -> str:
    parents = store.lineage(identity.site_key)
    if not parents:
        return ""
    kind = parents[0][1]
    keys = ", ".join(p for p, _ in parents)
    return f"split from {keys}" if kind == "split" else f"merged from {keys}"


def export_package(
    run_dir: str | Path,
    *,
    out: str | Path | None = None,
    store: str | Path | None = None,
) -> ReviewPackage:
    """Write the review package of a run.

    Parameters
    ----------
    run_dir
        A finished run folder.
    out
        The package folder (default ``<outputs>/review/<run id>``); replaced if it exists.
    store
        The review store (default ``<outputs>/review.sqlite``).
    """
    run = read_run(run_dir)
    store_path = Path(store) if store is not None else default_store(run.path)
    st = ReviewStore(store_path)
    dest = Path(out) if out is not None else default_package_dir(run.path)
    sites = reviewed_frame(run, st)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = dest.with_name(f".{dest.name}.{secrets.token_hex(3)}.partial")
    work.mkdir()
    try:
        images = _write_images(run, sites, work)
        _write_tables(run, sites, work)
        page = page_data(run, sites, images)
        write_text(work / "index.html", render_page(page))
        write_json(work / "package.json", {
            "format": PACKAGE_FORMAT, "version": 1, "aoi": run.aoi_id,
            "aoi_name": run.aoi_name, "run_id": run.run_id, "pipeline": run.pipeline,
            "run_dir": str(run.path.resolve()), "store": str(store_path.resolve()),
            "exported_at": page["exported_at"],
            "sites": {str(r["id"]): r["site_key"] for _, r in sites.iterrows()},
        })
        _swap(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return ReviewPackage(root=dest, aoi_id=run.aoi_id, run_id=run.run_id, store=store_path,
                         n_sites=len(sites))


def read_package(root: Path) -> dict[str, Any] | None:
    """The ``package.json`` of a package folder, or None when there is no (valid) one."""
    p = Path(root) / "package.json"
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == PACKAGE_FORMAT else None


def package_is_current(root: Path, run: RunFolder, keys: dict[str, str]) -> bool:
    """Whether ``root`` is a complete package of ``run`` with these site keys."""
    doc = read_package(root)
    return bool(doc and doc.get("run_id") == run.run_id and doc.get("aoi") == run.aoi_id
                and doc.get("sites") == keys and (Path(root) / "index.html").exists())


def _swap(work: Path, dest: Path) -> None:
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.{secrets.token_hex(3)}.old")
        os.rename(dest, old)
    os.rename(work, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _write_images(run: RunFolder, sites: gpd.GeoDataFrame, root: Path
                  ) -> dict[str, list[dict[str, Any]]]:
    """Chips and locator maps of every site; per site id, the images' relative paths+captions."""
    out: dict[str, list[dict[str, Any]]] = {}
    after_period = run.last
    after = run.composite(after_period)
    with LocatorMaps(run.outline, list(sites.geometry)) as maps:
        for _, site in sites.iterrows():
            sid = str(site["id"])
            before_period = run.before(str(site["first_seen"]))
            before = run.composite(before_period) if before_period is not None else None
            chips = site_chips(site.geometry, before, after) if after is not None else {}
            images = []
            for kind, _, what in CHIP_KINDS:
                for when, period in (("before", before_period), ("after", after_period)):
                    img = chips.get(f"{when}_{kind}")
                    src = None
                    if img is not None:
                        src = f"chips/{_safe(sid)}_{when}_{kind}.png"
                        write_png(root / src, img)
                    label = period.label if period is not None else "none"
                    images.append({"src": src, "kind": f"{when}_{kind}",
                                   "caption": f"{when} · {label} · {what}"})
            loc = f"locator/{_safe(sid)}.png"
            maps.write(root / loc, site.geometry)
            images.append({"src": loc, "kind": "locator", "caption": "where it is in the AOI"})
            out[sid] = images
    return out


def _table(run: RunFolder, sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    t = sites.drop(columns=["review"]).to_crs(4326)
    t["run_id"] = run.run_id
    t["periods"] = [",".join(p) if isinstance(p, list | tuple) else (p or "")
                    for p in t["periods"]]
    cols = ["id", "site_key", "aoi", "run_id", "class", "first_seen", "last_seen", "status",
            "area_ha", "confidence", "periods", "review_status", "reviewer", "note",
            "reviewed_at", "lineage"]
    return t[[*cols, "geometry"]]


def _write_tables(run: RunFolder, sites: gpd.GeoDataFrame, root: Path) -> None:
    table = _table(run, sites)
    exported = pd.DataFrame(table.drop(columns="geometry")[
        ["id", "site_key", "aoi", "run_id", *EDITABLE]])
    # the package is built in a temporary folder and swapped in whole: no temporary name here
    pyogrio.write_dataframe(table, root / "sites.gpkg", layer="sites", driver="GPKG")
    pyogrio.write_dataframe(exported, root / "sites.gpkg", layer="exported", driver="GPKG")
    geo = table.copy()
    geo["periods"] = [p.split(",") if p else [] for p in geo["periods"]]
    write_geojson(root / "sites.geojson", geo)


def page_data(run: RunFolder, sites: gpd.GeoDataFrame, images: dict[str, list[dict[str, Any]]]
              ) -> dict[str, Any]:
    """Everything the page shows, as plain JSON-able data (embedded in the page)."""
    points = sites.geometry.representative_point().to_crs(4326) if len(sites) else []
    rows = []
    for (_, s), pt in zip(sites.iterrows(), points, strict=True):
        review: SiteReview = s["review"]
        rows.append({
            "id": str(s["id"]), "site_key": s["site_key"], "area_ha": float(s["area_ha"]),
            "first_seen": str(s["first_seen"]), "last_seen": str(s["last_seen"]),
            "status": str(s["status"]), "confidence": float(s["confidence"]),
            "periods": list(s["periods"]) if isinstance(s["periods"], list | tuple) else [],
            "lat": round(pt.y, 6), "lon": round(pt.x, 6), "lineage": s["lineage"],
            "images": images.get(str(s["id"]), []), "review": review.to_dict(),
            "summary": summary_text(review),
        })
    years = sorted({p.start[:4] for p in run.periods} | {p.end[:4] for p in run.periods})
    span = years[0] if len(years) == 1 else f"{years[0]}–{years[-1]}"
    return {
        "format": "geomon-review-page", "version": 1, "aoi": run.aoi_id,
        "aoi_name": run.aoi_name, "run_id": run.run_id, "pipeline": run.pipeline,
        "exported_at": utc_now(), "statuses": list(STATUSES), "states": list(REVIEW_STATES),
        "attribution": f"Contains modified Copernicus Sentinel data {span}. Chips: composites "
                       "of the run; outline in yellow.",
        "sites": rows,
    }
