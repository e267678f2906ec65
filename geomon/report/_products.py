"""Everything a run writes for people, from one :class:`~geomon.assessment.Assessment`:
the HTML and PDF report, maps, and exports for GIS and Google Earth.

Written into the run folder (paths relative to it):

- ``report.html`` (self-contained), ``report.pdf``
- ``maps/<period>.png|pdf`` per assessed period, ``maps/site_<id>_<period>.png|pdf`` before/after
  pairs of the largest sites
- ``aoi.geojson``, ``detections.gpkg``, ``detections.kml``, ``detections.kmz``, ``sites.csv``
"""

from __future__ import annotations

import logging
import shutil
from typing import Any

import geopandas as gpd

from geomon.assessment import Assessment
from geomon.export import feature_collection, write_geopackage, write_sites_csv
from geomon.report._context import report_context
from geomon.report._html import render_html
from geomon.report._workers import FigureWriter
from geomon.report.charts import area_figure, quality_figure
from geomon.report.kml import kml_document, write_kml, write_kmz
from geomon.report.maps import (
    Backdrop,
    MapLayers,
    backdrop_limits,
    composite_rgb,
    figure_data_uri,
    make_backdrop,
    period_title,
)
from geomon.report.site_activity import SiteHistory, site_history
from geomon.report.site_maps import RunPeriod, site_pair
from geomon.runs import RunDir, write_json, write_text

__all__ = ["N_SITE_PAIRS", "Report", "figure_writer", "period_maps", "write_exports",
           "write_products"]

log = logging.getLogger(__name__)

#: Before/after maps are made for this many of the largest sites (any other: ``geomon map``).
N_SITE_PAIRS = 3
#: Resolution of the map files in maps/, and of their previews embedded in the HTML report.
MAP_DPI, HTML_MAP_DPI = 300, 100


def figure_writer(run: RunDir, *, n_periods: int) -> FigureWriter:
    """A started :class:`FigureWriter` for the maps and PDF report of ``run``, which assesses
    ``n_periods`` periods: start it when the run starts, so its workers are ready when the
    first map is."""
    writer = FigureWriter(scratch=run.path(".maps"), preview_scale=HTML_MAP_DPI / MAP_DPI)
    writer.start(expected=n_periods + N_SITE_PAIRS)
    return writer


class Report:
    """The report, maps and exports of one run, in two steps.

    Made, it queues the map of every assessed period, which the ``figures`` workers draw while the
    caller writes the pipeline's own files (detections.geojson, confounders.geojson,
    composites/, rasters/); :meth:`write` then queues the PDF report and the before/after maps
    of the largest sites (made from those files), writes the exports, draws what no worker has
    taken yet, and writes the HTML report.

    Examples
    --------
    >>> report = Report(result, run, figures=figure_writer(run, n_periods=3))  # doctest: +SKIP
    >>> write_geojson(run.path("detections.geojson"), result.sites.mining)  # and the rest
    >>> report.write()
    """

    def __init__(self, result: Assessment, run: RunDir, *, figures: FigureWriter | None = None
                 ) -> None:
        self.result, self.run = result, run
        self.figures = figures or figure_writer(run, n_periods=len(result.periods))
        self.labels = [p.label for p in result.periods]
        self.history = site_history(result.sites.mining, result.state, result.transform,
                                    self.labels)
        self.ctx = report_context(result, history=self.history)
        self.period_maps = period_maps(result, self.history)
        for label, (backdrop, layers, title) in self.period_maps.items():
            self.figures.period_map(run.path("maps", label), backdrop, layers, title=title,
                                    attribution=self.ctx["attribution"])

    def write(self) -> None:
        """Write everything else into the run folder and wait for the maps."""
        result, run, ctx = self.result, self.run, self.ctx
        periods = [RunPeriod(p.label, p.start.isoformat(), p.end.isoformat(), False)
                   for p in result.baseline]
        periods += [RunPeriod(p.label, p.start.isoformat(), p.end.isoformat(), True)
                    for p in result.periods]
        pairs = [site_pair(run.work, periods, site=row["id"], period=self.labels[-1])
                 for row in ctx["largest"][:N_SITE_PAIRS]]
        # the longest job first: whoever is free next takes it
        self.figures.report_pdf(run.path("report.pdf"), ctx, self.period_maps, pairs)
        for pair in pairs:
            self.figures.site_pair(run.path("maps", pair.name), pair)
        try:
            write_exports(result, run, self.history)
            images: dict[str, Any] = {
                "area_chart": figure_data_uri(area_figure(ctx["areas"])),
                "quality_chart": figure_data_uri(quality_figure(ctx["quality"]))}
            previews = self.figures.wait()
        finally:
            self.figures.close()
            shutil.rmtree(run.path(".maps"), ignore_errors=True)
        images["period_maps"] = {label: previews[label] for label in self.period_maps}
        images["site_pairs"] = [{"site": pair.site, "period": pair.period,
                                 "file": f"maps/{pair.name}.png", "uri": previews[pair.name]}
                                for pair in pairs]
        write_text(run.path("report.html"), render_html(ctx, images))


def write_products(result: Assessment, run: RunDir) -> None:
    """Write the report, maps and exports of ``result`` into the run folder in one go.

    Expects the pipeline's own outputs (detections.geojson, confounders.geojson,
    composites/, rasters/) to be in the run folder already: the site maps read them.
    """
    Report(result, run).write()


def period_maps(result: Assessment, history: SiteHistory, *, false_colour: bool = False
                ) -> dict[str, tuple[Backdrop, MapLayers, str]]:
    """Backdrop, layers and title of the map of each assessed period.

    All periods share one colour stretch, so brightness is comparable from map to map.
    """
    comps = result.composites
    rgbs = {p.label: composite_rgb(comps.sel(period=p.label), false_colour=false_colour)
            for p in result.periods}
    limits = backdrop_limits(list(rgbs.values()), false_colour=false_colour)
    mining, conf = result.sites.mining, result.sites.confounders
    out = {}
    for i, p in enumerate(result.periods):
        start = p.start.isoformat()
        sites = mining.copy()
        sites["map_state"] = history.states(mining, i, start) if len(mining) else []
        look = conf[[(not list(ps)) or start in ps for ps in conf["periods"]]] \
            if len(conf) else conf
        out[p.label] = (
            make_backdrop(rgbs[p.label], result.transform, result.crs, p.label,
                          false_colour=false_colour, limits=limits),
            MapLayers(sites=sites, aoi=result.aoi.utm_geometry, lookalikes=look),
            period_title(result.aoi.name, p.label, p.start, p.end),
        )
    return out


def write_exports(result: Assessment, run: RunDir, history: SiteHistory) -> None:
    """aoi.geojson, detections.gpkg, detections.kml/kmz and sites.csv."""
    aoi = result.aoi
    feature = aoi.to_feature()
    write_json(run.path("aoi.geojson"), {"type": "FeatureCollection", "features": [feature]})
    props = {k: v for k, v in feature["properties"].items() if k != "parameters"}
    aoi_gdf = gpd.GeoDataFrame([{**props, "area_km2": round(aoi.area_km2, 3)}],
                               geometry=[aoi.geometry], crs="EPSG:4326")
    mining, conf = result.sites.mining, result.sites.confounders
    wgs = _wgs84(mining)
    layers = {"mining": wgs, "mining_utm": mining, "confounders": _wgs84(conf), "aoi": aoi_gdf}
    for i, p in enumerate(result.periods):
        dug = history.digging_ha[:, i] > 0 if len(mining) else []
        part = wgs[dug].copy() if len(mining) else wgs
        if len(mining):
            part["new_ha_in_period"] = history.new_ha[dug, i].round(4)
            part["dug_ha_in_period"] = history.digging_ha[dug, i].round(4)
            part["new_site"] = part["first_seen"] == p.start.isoformat()
        layers[f"mining_{p.label}"] = part
    write_geopackage(run.path("detections.gpkg"), layers)
    write_sites_csv(run.path("sites.csv"), mining)
    text = kml_document(mining, confounders=conf, aoi=aoi_gdf,
                        name=f"geomon: digging in {aoi.name}, {result.periods[0].start} to "
                             f"{result.periods[-1].end}",
                        description=f"Run {result.run_id}. Contains modified Copernicus "
                                    f"Sentinel data.")
    write_kml(run.path("detections.kml"), text)
    write_kmz(run.path("detections.kmz"), text)


def _wgs84(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` in EPSG:4326 with the same oriented, rounded geometry as the GeoJSON output."""
    fc = feature_collection(gdf)
    if not fc["features"]:
        return gdf.to_crs(4326)
    out = gpd.GeoDataFrame.from_features(fc["features"], crs="EPSG:4326")
    return out[[c for c in gdf.columns if c != gdf.geometry.name] + ["geometry"]]
