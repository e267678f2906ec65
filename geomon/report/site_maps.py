"""Before/after maps of one digging site, made from a run folder on disk.

Everything comes from the files a run writes: ``detections.geojson``, ``confounders.geojson``,
``composites/<period>.tif``, ``rasters/state_<period>.tif``, ``aoi.geojson`` and
``manifest.json`` (for the periods), so a map can be made for any site of any finished run, long
after the run, with ``geomon map RUN_DIR --site ID --period P``.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio.windows import Window
from shapely.geometry import shape

from geomon.errors import GeomonError
from geomon.export import read_composite
from geomon.report.maps import (
    Backdrop,
    MapLayers,
    attribution_for,
    backdrop_limits,
    composite_rgb,
    make_backdrop,
    pair_figure,
    save_figure,
    site_extent,
)
from geomon.report.site_activity import site_labels, site_state

__all__ = ["RunPeriod", "SitePair", "make_site_map", "pair_periods", "read_features",
           "run_periods", "site_pair", "site_pair_map"]


@dataclass(frozen=True)
class RunPeriod:
    """A period of a run: its label, first and last day (ISO dates) and whether it was assessed
    (False for baseline periods)."""

    label: str
    start: str
    end: str
    assessed: bool


def run_periods(run_dir: Path) -> list[RunPeriod]:
    """The periods of a finished run, baseline first, from its ``manifest.json``."""
    manifest = Path(run_dir) / "manifest.json"
    if not manifest.exists():
        raise GeomonError("not a finished geomon run folder (it has no manifest.json)",
                          path=run_dir)
    doc = json.loads(manifest.read_text())
    return [RunPeriod(p["period"], p["start"], p["end"],
                      (Path(run_dir) / "rasters" / f"state_{p['period']}.tif").exists())
            for p in doc["periods"]]


def read_features(path: Path, crs: str | None = None) -> gpd.GeoDataFrame:
    """A GeoJSON FeatureCollection as a GeoDataFrame (list properties kept as lists)."""
    doc = json.loads(Path(path).read_text())
    gdf = gpd.GeoDataFrame.from_features(doc["features"], crs="EPSG:4326")
    return gdf.to_crs(crs) if crs else gdf


def _aoi_outline(run_dir: Path, crs: str):
    path = run_dir / "aoi.geojson"
    if not path.exists():
        manifest = run_dir / "manifest.json"
        file = json.loads(manifest.read_text())["aoi"].get("file") if manifest.exists() else None
        if not file or not Path(file).exists():
            return None
        path = Path(file)
    doc = json.loads(path.read_text())
    feats = doc["features"] if doc.get("type") == "FeatureCollection" else [doc]
    geom = shapely.union_all([shape(f["geometry"]) for f in feats])
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    return shapely.transform(geom, tr.transform, interleaved=False)


def pair_periods(periods: Sequence[RunPeriod], first_seen: str, period: str
                 ) -> tuple[RunPeriod | None, RunPeriod]:
    """(before, after) for a site first seen on ``first_seen`` shown in ``period``.

    ``after`` is ``period``; ``before`` the period just before the site was first seen (or just
    before ``period`` if that is earlier): the ground as it was before the digging. None when
    there is no earlier period.
    """
    labels = [p.label for p in periods]
    if period not in labels:
        raise GeomonError(f"unknown period {period!r}", field="--period",
                          expected="one of " + ", ".join(labels))
    after = labels.index(period)
    first = next((i for i, p in enumerate(periods) if p.start == first_seen), after)
    i = min(after, first) - 1
    return (periods[i] if i >= 0 else None), periods[after]


def _window(src: rasterio.DatasetReader, extent: tuple[float, float, float, float]) -> Window:
    """The pixels covering ``extent`` (rounded outwards), within the raster."""
    left, right, bottom, top = extent
    inv = ~src.transform
    cols, rows = zip(*(inv * (x, y) for x in (left, right) for y in (bottom, top)), strict=True)
    c0, r0 = max(0, math.floor(min(cols))), max(0, math.floor(min(rows)))
    c1, r1 = min(src.width, math.ceil(max(cols))), min(src.height, math.ceil(max(rows)))
    return Window(c0, r0, max(1, c1 - c0), max(1, r1 - r0))


def _revegetating(run_dir: Path, label: str, sites: gpd.GeoDataFrame, win: Window
                  ) -> np.ndarray:
    path = run_dir / "rasters" / f"state_{label}.tif"
    if not path.exists() or not len(sites):
        return np.zeros(len(sites), bool)
    with rasterio.open(path) as src:
        state = src.read(1, window=win)
        transform = src.window_transform(win)
    lab = site_labels(sites, state.shape, transform)
    return np.bincount(lab[state == 3], minlength=len(sites) + 1)[1:] > 0


def _panel(run_dir: Path, period: RunPeriod, image: tuple[np.ndarray, Affine, str],
           sites: gpd.GeoDataFrame, lookalikes: gpd.GeoDataFrame, aoi, win: Window, *,
           false_colour: bool, limits) -> tuple[Backdrop, MapLayers]:
    rgb, transform, crs = image
    backdrop = make_backdrop(rgb, transform, crs, period.label, false_colour=false_colour,
                             limits=limits)
    reveg = _revegetating(run_dir, period.label, sites, win)
    shown = sites.copy()
    shown["map_state"] = [
        site_state(r["first_seen"], list(r["periods"]), period.start, revegetating=bool(v))
        for (_, r), v in zip(sites.iterrows(), reveg, strict=True)
    ]
    seen = lookalikes[[(not p) or period.start in p for p in lookalikes["periods"]]] \
        if len(lookalikes) else lookalikes
    return backdrop, MapLayers(sites=shown, aoi=aoi, lookalikes=seen, hidden_states=())


@dataclass(frozen=True)
class SitePair:
    """Everything a before/after map of one site shows (see :func:`site_pair`)."""

    site: str
    period: str
    panels: list[tuple[Backdrop, MapLayers, str]]
    extent: tuple[float, float, float, float]
    title: str
    attribution: str
    name: str

    def figure(self):
        """The pair as a stand-alone figure."""
        return pair_figure(self.panels, title=self.title, attribution=self.attribution,
                           extent=self.extent)


def site_pair(run_dir: Path, periods: Sequence[RunPeriod], *, site: str, period: str,
              false_colour: bool = False) -> SitePair:
    """Before/after panels of ``site`` from the files in ``run_dir`` (finished or being written).

    ``period`` is the "after" period; "before" comes from :func:`pair_periods`. Both panels share
    one extent and one colour stretch, so a change of colour is a change on the ground.
    """
    run_dir = Path(run_dir)
    last_composite = run_dir / "composites" / f"{periods[-1].label}.tif"
    with rasterio.open(last_composite) as src:
        crs = src.crs.to_string()
        bounds = src.bounds
        mining = read_features(run_dir / "detections.geojson", crs)
        ids = [str(i) for i in mining["id"]] if len(mining) else []
        if site not in ids:
            near = difflib.get_close_matches(site, ids, n=3)
            raise GeomonError(f"no site {site!r} in this run", field="--site",
                              expected="one of " + ", ".join(near or ids[:5] or ["(none)"]))
        row = mining.iloc[ids.index(site)]
        before, after = pair_periods(periods, row["first_seen"], period)
        extent = site_extent(row.geometry, within=(bounds.left, bounds.right, bounds.bottom,
                                                   bounds.top))
        win = _window(src, extent)
    box = shapely.box(extent[0], extent[2], extent[1], extent[3])
    near_sites = mining[mining.intersects(box)]
    conf_path = run_dir / "confounders.geojson"
    lookalikes = read_features(conf_path, crs) if conf_path.exists() else mining.iloc[:0]
    if len(lookalikes):
        lookalikes = lookalikes[lookalikes.intersects(box)]
    aoi = _aoi_outline(run_dir, crs)

    shown = [p for p in (before, after) if p is not None]
    images = []
    for p in shown:
        bands, transform, crs = read_composite(run_dir / "composites" / f"{p.label}.tif",
                                               window=win)
        images.append((composite_rgb(bands, false_colour=false_colour), transform, crs))
    limits = backdrop_limits([im[0] for im in images], false_colour=false_colour)
    panels = []
    for p, image in zip(shown, images, strict=True):
        backdrop, layers = _panel(run_dir, p, image, near_sites, lookalikes, aoi, win,
                                  false_colour=false_colour, limits=limits)
        when = "Before" if p is before else "After"
        kind = "" if p.assessed else " (baseline)"
        panels.append((backdrop, layers, f"{when}: {p.label}{kind}, {p.start} to {p.end}"))
    lon, lat = _lonlat(row.geometry.centroid, crs)
    title = (f"Site {site}: {row['area_ha']:.2f} ha, {row['status']} in the last period; first "
             f"seen {row['first_seen']}, last seen {row['last_seen']}; centre {lat:.5f}°, "
             f"{lon:.5f}°")
    years = [int(p.start[:4]) for p in shown] + [int(p.end[:4]) for p in shown]
    suffix = "_false-colour" if false_colour else ""
    return SitePair(site=site, period=after.label, panels=panels, extent=extent, title=title,
                    attribution=attribution_for(years), name=f"site_{site}_{after.label}{suffix}")


def site_pair_map(run_dir: Path, periods: Sequence[RunPeriod], *, site: str, period: str,
                  out: Path, false_colour: bool = False) -> list[Path]:
    """Write the before/after maps of ``site`` (:func:`site_pair`) into ``out``.

    Returns
    -------
    ``[PNG (300 dpi), PDF]``, named ``site_<id>_<period>[_false-colour]``.
    """
    pair = site_pair(run_dir, periods, site=site, period=period, false_colour=false_colour)
    return save_figure(pair.figure(), Path(out) / pair.name)


def _lonlat(pt, crs: str) -> tuple[float, float]:
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(pt.x, pt.y)


def make_site_map(run_dir: str | Path, *, site: str, period: str, out: str | Path | None = None,
                  false_colour: bool = False) -> list[Path]:
    """Before/after maps of one site of a finished run.

    Parameters
    ----------
    run_dir
        A finished run folder (``outputs/<pipeline>/<run-id>``).
    site
        The site's ``id`` in ``detections.geojson``.
    period
        The "after" period's label (e.g. ``2024Q4``); "before" is the period before the site was
        first seen.
    out
        Folder for the maps; default ``<run_dir>/maps``.
    false_colour
        SWIR 1.6 µm / near infrared / red backdrop instead of true colour.

    Returns
    -------
    The PNG (300 dpi) and PDF written.
    """
    run_dir = Path(run_dir)
    periods = run_periods(run_dir)
    return site_pair_map(run_dir, periods, site=site, period=period,
                         out=Path(out) if out else run_dir / "maps", false_colour=false_colour)
