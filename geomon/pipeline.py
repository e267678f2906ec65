"""One assessment, end to end: AOI + source → cube → mask → composites → detection → outputs.

Everything up to the per-period rasters stays lazy; one :func:`dask.compute` call evaluates the
rasters, clear-observation counts and the map backdrop together, so the imagery is read once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dask
import numpy as np
import rasterio.features
from affine import Affine
from odc.geo.xr import xr_coords  # noqa: F401 - registers the .odc accessor
from rasterio.errors import NotGeoreferencedWarning

from geomon.aoi import AOI, load_aoi
from geomon.assessment import Assessment
from geomon.cluster import dask_client, scheduler_summary
from geomon.composite import period_composites
from geomon.config import Period, Pipeline, load_pipeline
from geomon.detect import make_detector
from geomon.export import (
    CONFOUNDER_COLOURS,
    STATE_COLOURS,
    confounder_categories,
    state_categories,
    write_cog,
    write_composite,
    write_geojson,
)
from geomon.history import record_failed, record_finished
from geomon.mask import clear_sky
from geomon.runs import RunDir, software_versions, write_json, write_text
from geomon.sources import Cube, make_source
from geomon.vectorize import PeriodArea, Sites, fill_pits, vectorize

log = logging.getLogger(__name__)

__all__ = ["RunResult", "run_pipeline"]

COMPOSITE_BANDS = ("blue", "green", "red", "nir", "swir16", "swir22")


@dataclass(frozen=True)
class RunResult:
    """Where a finished run is and its headline figures."""

    run_dir: Path
    pipeline: str
    aoi: str
    areas: list[PeriodArea]
    n_sites: int
    degraded_periods: list[str] = field(default_factory=list)


def run_pipeline(path: str | Path, *, progress: bool = False, scheduler: str | None = None
                 ) -> RunResult:
    """Run the assessment a pipeline file defines; return where its results are.

    Results go to ``<outputs>/<pipeline name>/<run id>/`` (see :mod:`geomon.runs`) and into the
    run index ``<outputs>/runs.sqlite`` (see :mod:`geomon.history`). Dask work runs on
    ``scheduler`` (an address), else ``DASK_SCHEDULER_ADDRESS``, else the pipeline's
    ``compute.scheduler``, else local threads (see :func:`geomon.cluster.dask_client`).
    """
    pipe = load_pipeline(path)
    aoi = load_aoi(pipe.aoi, directory=pipe.aoi_dir, max_area_km2=pipe.max_aoi_km2)
    started = datetime.now(UTC)
    run = RunDir.create(pipe.outputs, pipe.name, now=started)
    log.info("run %s of %s over %s", run.run_id, pipe.name, aoi.id)
    try:
        with dask_client(scheduler, fallback=pipe.compute.scheduler):
            result = _assess(pipe, aoi, run, started, progress=progress)
    except BaseException as exc:
        run.discard()
        record_failed(pipe.outputs, pipeline=pipe.name, run_id=run.run_id, aoi=aoi.id,
                      started=started, error=exc)
        raise
    record_finished(pipe.outputs, result.run_dir)
    return result


def _assess(pipe: Pipeline, aoi: AOI, run: RunDir, started: datetime, *, progress: bool
            ) -> RunResult:
    baseline, periods = pipe.baseline(), pipe.periods()
    every = [*baseline, *periods]
    cube = make_source(pipe.source).load(
        aoi, every[0].start, every[-1].end, chunk_px=pipe.compute.chunk_px
    )
    clear = clear_sky(
        cube.data,
        buffer_px=2 * pipe.mask.cloud_buffer_px,  # config is in 20 m SCL pixels; grid is 10 m
        keep_bright_ground=pipe.mask.keep_bright_ground,
    )
    detector = make_detector(pipe.detection)
    comps = period_composites(cube.data, clear, every, bands=COMPOSITE_BANDS,
                              fractions=detector.observation_layers(cube.data))
    det = detector.detect(comps, n_baseline=len(baseline))
    log.info("computing %d periods on a %d x %d grid", len(every), comps.sizes["y"],
             comps.sizes["x"])
    with _progress(progress), warnings.catch_warnings():
        # pixels never seen clearly in a period have an all-NaN median: expected, counted apart
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)
        state, conf, score, composites = dask.compute(
            det.state.data, det.confounder.data, det.score.data, comps
        )
    geobox = cube.data.odc.geobox
    transform, crs = geobox.affine, aoi.crs
    inside = rasterio.features.geometry_mask(
        [aoi.utm_geometry], out_shape=state.shape[1:], transform=transform, invert=True
    )
    state = fill_pits(np.where(inside, state, 0).astype("uint8"),
                      pixel_ha=abs(transform.a * transform.e) / 1e4)
    conf = np.where(inside, conf, 0).astype("uint8")
    score = np.where(inside, score, 0).astype("float32")

    assessed = [(p.label, p.start, p.end) for p in periods]
    sites = vectorize(
        state, conf, score, transform=transform, crs=crs, periods=assessed, aoi_id=aoi.id,
        min_mapping_unit_ha=pipe.detection.min_mapping_unit_ha,
        min_old_site_ha=pipe.detection.min_old_site_ha,
    )
    sites, reviewed_areas = _apply_reviews(sites, pipe, aoi, run, state, conf, score,
                                           transform=transform, periods=assessed)
    quality = _quality(every, composites, inside, cube, pipe.detection.min_clear_observations)
    degraded = [q["period"] for q in quality if q["degraded"] and q["period"] in
                {p.label for p in periods}]

    write_geojson(run.path("detections.geojson"), sites.mining)
    write_geojson(run.path("confounders.geojson"), sites.confounders)
    for i, p in enumerate(periods):
        write_cog(run.path("rasters", f"state_{p.label}.tif"), state[i], transform=transform,
                  crs=crs, nodata=None, colormap=STATE_COLOURS, categories=state_categories(),
                  description=f"digging state {p.label}")
        write_cog(run.path("rasters", f"confounder_{p.label}.tif"), conf[i], transform=transform,
                  crs=crs, colormap=CONFOUNDER_COLOURS, categories=confounder_categories(),
                  description=f"look-alike class {p.label}")
    for p in every:
        write_composite(run.path("composites", f"{p.label}.tif"), composites.sel(period=p.label),
                        bands=COMPOSITE_BANDS, transform=transform, crs=crs)
    write_text(run.path("areas.csv"), _areas_csv(sites.areas))
    estimate = _estimate(pipe, aoi, reviewed_areas, run)

    from geomon.report import write_products

    write_products(Assessment(
        pipe=pipe, aoi=aoi, run_id=run.run_id, started=started, baseline=baseline,
        periods=periods, sites=sites, reviewed_areas=reviewed_areas, quality=quality,
        estimate=estimate,
        composites=composites, state=state, confounder=conf, transform=transform, crs=crs,
    ), run)
    _write_manifest(run, pipe, aoi, cube, quality, started)
    final = run.finish()
    log.info("run complete: %s", final)
    return RunResult(run_dir=final, pipeline=pipe.name, aoi=aoi.id, areas=sites.areas,
                     n_sites=len(sites.mining), degraded_periods=degraded)


def _apply_reviews(sites: Sites, pipe: Pipeline, aoi: AOI, run: RunDir, state: np.ndarray,
                   conf: np.ndarray, score: np.ndarray, *, transform: Affine,
                   periods: list[tuple[str, date, date]]) -> tuple[Sites, list[PeriodArea]]:
    """Carry reviewers' decisions (``<outputs>/review.sqlite``) onto this run's sites.

    Returns the sites with ``site_key`` and ``review_status`` columns, and the per-period areas
    without the sites reviewers rejected: the areas production is estimated from.
    """
    from geomon.review import apply_reviews, rejected_mask

    mining = apply_reviews(sites.mining, aoi_id=aoi.id, store=Path(pipe.outputs) / "review.sqlite",
                           run_id=run.run_id)
    sites = replace(sites, mining=mining)
    if not (mining["review_status"] == "rejected").any():
        return sites, sites.areas
    keep = ~rejected_mask(mining, transform=transform, shape=state.shape[1:])
    kept = vectorize(np.where(keep, state, 0), conf, score, transform=transform, crs=aoi.crs,
                     periods=periods, aoi_id=aoi.id,
                     min_mapping_unit_ha=pipe.detection.min_mapping_unit_ha,
                     min_old_site_ha=pipe.detection.min_old_site_ha)
    return sites, kept.areas


def _progress(enabled: bool):
    from contextlib import nullcontext

    if not enabled:
        return nullcontext()
    from dask.diagnostics import ProgressBar

    return ProgressBar(minimum=1.0)


def _quality(every: Sequence[Period], composites: Any, inside: np.ndarray, cube: Cube,
             min_clear: int) -> list[dict[str, Any]]:
    """Per period: acquisitions, clear observations in the AOI, skipped assets, degraded flag.

    A period is degraded when under 90% of the AOI had ``min_clear`` clear observations, or when
    an asset of one of its acquisitions could not be read.
    """
    out = []
    for i, p in enumerate(every):
        lo, hi = p.start.isoformat(), p.end.isoformat()
        used = [it for it in cube.items if lo <= it["datetime"][:10] <= hi]
        skipped = [s for s in cube.skipped if lo <= s.get("datetime", "")[:10] <= hi]
        c = composites.clear_count.values[i][inside]
        observed = float((c >= min_clear).mean()) if c.size else 0.0
        out.append({
            "period": p.label, "start": lo, "end": hi,
            "acquisitions": len(used),
            "median_clear_observations": float(np.median(c)) if c.size else 0.0,
            "observed_fraction": round(observed, 4),
            "degraded": observed < 0.9 or bool(skipped),
            "items": [{"id": it["id"], "cloud_cover": it["cloud_cover"]} for it in used],
            "skipped_assets": skipped,
        })
    blue = composites.blue.values[-1]
    dark = np.nanpercentile(blue, 1) if np.isfinite(blue).any() else 0.0
    if dark < -0.05:
        log.warning("blue reflectance 1st percentile is %.3f: the -0.1 offset may be applied "
                    "twice; check the items' raster:bands offset", dark)
    return out


def _areas_csv(areas: list[PeriodArea]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["period", "start", "end", "new_ha", "active_ha", "cumulative_ha"])
    for a in areas:
        w.writerow([a.period, a.start, a.end, f"{a.new_ha:.2f}", f"{a.active_ha:.2f}",
                    f"{a.cumulative_ha:.2f}"])
    return buf.getvalue()


def _estimate(pipe: Pipeline, aoi: AOI, areas: list[PeriodArea], run: RunDir) -> Any:
    if not pipe.estimate.enabled:
        return None
    from geomon import estimate as est

    origin = aoi.path or aoi.id
    params = est.parse_parameters(aoi.parameters, origin=origin,
                                  require_sources=pipe.estimate.require_sources,
                                  field_prefix="properties.parameters")
    if pipe.estimate.parameters:
        override = est.parse_parameters(pipe.estimate.parameters, origin=pipe.path,
                                        require_sources=pipe.estimate.require_sources,
                                        field_prefix="estimate.parameters")
        params = est.merge_parameters(params, override)
    declared = est.read_declared_csv(pipe.estimate.declared) if pipe.estimate.declared else None
    periods = [est.PeriodDisturbance(period=a.period, start=a.start, end=a.end, new_ha=a.new_ha,
                                     active_ha=a.active_ha) for a in areas]
    result = est.run_estimate(periods, params, aoi_id=aoi.id, draws=pipe.estimate.draws,
                              seed=pipe.estimate.seed, area_rel_error=pipe.estimate.area_rel_error,
                              declared=declared)
    write_json(run.path("estimate.json"), result.to_json_dict())
    write_text(run.path("estimate.csv"), result.to_csv_text())
    return result


def _write_manifest(run: RunDir, pipe: Pipeline, aoi: AOI, cube: Cube,
                    quality: list[dict[str, Any]], started: datetime) -> None:
    src = Path(pipe.path) if pipe.path else None
    manifest = {
        "run_id": run.run_id,
        "pipeline": pipe.name,
        "pipeline_file": str(src) if src else None,
        "pipeline_sha256": hashlib.sha256(src.read_bytes()).hexdigest() if src else None,
        "parameters": pipe.model_dump(mode="json", exclude={"path"}),
        "aoi": {"id": aoi.id, "name": aoi.name, "crs": aoi.crs, "area_km2": round(aoi.area_km2, 3),
                "file": str(aoi.path) if aoi.path else None},
        "software": software_versions(),
        "compute": scheduler_summary(),
        "periods": quality,
        "items_total": len(cube.items),
        "skipped_assets": cube.skipped,
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "outputs": run.checksums(),
    }
    write_json(run.path("manifest.json"), manifest)
