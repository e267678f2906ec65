"""One assessment, end to end: AOI + source → cube → mask → composites → detection → outputs.

Everything up to the per-period rasters stays lazy; one :func:`dask.compute` call evaluates the
rasters, clear-observation counts and the map backdrop together, so the imagery is read once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import shutil
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask
import dask.array as da
import numpy as np
import rasterio.features
import xarray as xr
from affine import Affine
from odc.geo.xr import xr_coords
from rasterio.errors import NotGeoreferencedWarning

from geomon.allocator import collect_less, keep_freed_memory
from geomon.aoi import AOI, load_aoi
from geomon.assessment import Assessment
from geomon.cache import CompositeCache
from geomon.cluster import active_client, dask_client, scheduler_summary
from geomon.composite import period_composites
from geomon.config import Period, Pipeline, load_pipeline
from geomon.detect import Detection, make_detector
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
from geomon.progress import Progress, checkpoint
from geomon.runs import (
    RunDir,
    sha256_file,
    software_versions,
    sweep_unfinished,
    write_json,
    write_text,
)
from geomon.sources import Cube, make_source
from geomon.texture import texture
from geomon.tiles import Tile, tile_grid
from geomon.vectorize import PeriodArea, Sites, fill_pits, vectorize

if TYPE_CHECKING:
    from geomon.report import FigureWriter

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


def run_pipeline(path: str | Path, *, progress: bool = False, scheduler: str | None = None,
                 since: date | None = None, until: date | None = None, rerun: bool = False
                 ) -> RunResult:
    """Run the assessment a pipeline file defines; return where its results are.

    Results go to ``<outputs>/<pipeline name>/<run id>/`` (see :mod:`geomon.runs`) and into the
    run index ``<outputs>/runs.sqlite`` (see :mod:`geomon.history`). Dask work runs on
    ``scheduler`` (an address), else ``DASK_SCHEDULER_ADDRESS``, else the pipeline's
    ``compute.scheduler``, else local threads (see :func:`geomon.cluster.dask_client`).

    Composites of periods an earlier run already made from the same acquisitions and settings
    are reused (see :mod:`geomon.cache`); ``rerun`` computes them all again. ``since`` and
    ``until`` replace the pipeline's ``start`` and ``end``.

    On Linux the process keeps the memory the run frees for its next arrays
    (:func:`geomon.allocator.keep_freed_memory`); everywhere, Python's garbage collector runs
    less often and no longer walks the objects alive at the call
    (:func:`geomon.allocator.collect_less`).
    """
    keep_freed_memory()  # before the first dask thread starts
    collect_less()
    pipe = load_pipeline(path).with_dates(since, until)
    aoi = load_aoi(pipe.aoi, directory=pipe.aoi_dir, max_area_km2=pipe.max_aoi_km2)
    started = datetime.now(UTC)
    sweep_unfinished(pipe.outputs, pipe.name)
    run = RunDir.create(pipe.outputs, pipe.name, now=started)
    log.info("run %s of %s over %s", run.run_id, pipe.name, aoi.id)
    try:
        with dask_client(scheduler, fallback=pipe.compute.scheduler):
            result = _assess(pipe, aoi, run, started, progress=progress, rerun=rerun)
    except BaseException as exc:
        run.discard()
        record_failed(pipe.outputs, pipeline=pipe.name, run_id=run.run_id, aoi=aoi.id,
                      started=started, error=exc)
        raise
    checkpoint("finished")
    record_finished(pipe.outputs, result.run_dir)
    return result


def _assess(pipe: Pipeline, aoi: AOI, run: RunDir, started: datetime, *, progress: bool,
            rerun: bool = False) -> RunResult:
    from geomon.report import figure_writer

    # figure workers start now: they load their libraries while this process searches on one core
    figures = figure_writer(run, n_periods=len(pipe.periods()))
    try:
        return _assess_with(pipe, aoi, run, started, figures, progress=progress, rerun=rerun)
    finally:
        figures.close()


def _assess_with(pipe: Pipeline, aoi: AOI, run: RunDir, started: datetime,
                 figures: FigureWriter, *, progress: bool, rerun: bool) -> RunResult:
    baseline, periods = pipe.baseline(), pipe.periods()
    every = [*baseline, *periods]
    cube = make_source(pipe.source).load(
        aoi, every[0].start, every[-1].end, chunk_px=pipe.compute.chunk_px,
        periods=[(p.start, p.end) for p in every], **_cloud_probability_kw(pipe),
    )
    detector = make_detector(pipe.detection)
    grid = cube.data.odc.geobox
    tiles = tile_grid(grid.shape.yx, tile_px=pipe.compute.tile_px)
    log.info("%d periods on a %d x %d grid in %d tile(s)", len(every), *grid.shape.yx, len(tiles))
    streams = _dem_streams(pipe, grid)  # before the long part: a bad DEM fails the run early
    with warnings.catch_warnings():
        # pixels never seen clearly in a period have an all-NaN median: expected, counted apart
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
        warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)
        comps, reuse = _composites(pipe, aoi, cube, detector, every, tiles, rerun=rerun,
                                   progress=progress, scratch=run.path(".composites"))
        det = detector.detect(_with_dem_streams(comps, streams), n_baseline=len(baseline))
        rough = _flagged_texture(comps, det, n_baseline=len(baseline))
        # detection reads the stored composites: local threads, also when imagery was read on
        # a cluster (its workers need not see this machine's disk)
        with dask.config.set(scheduler="threads"):
            state, conf, score, rough, used = dask.compute(
                det.state.data, det.confounder.data, det.score.data, rough.data,
                {k: v.data for k, v in det.thresholds.items()})
            thresholds = _thresholds_used(used, periods)
            return _finish(pipe, aoi, run, started, cube=cube, comps=comps, state=state,
                           conf=conf, score=score, flagged_texture=rough, baseline=baseline,
                           periods=periods, reuse=reuse, thresholds=thresholds,
                           streams=streams, figures=figures)


def _flagged_texture(comps: xr.Dataset, det: Detection, *, n_baseline: int) -> xr.DataArray:
    """Per pixel, the mean :func:`geomon.texture.texture` of the assessed periods in which it
    was digging (new or active) or a look-alike; NaN where it never was. Lazy."""
    flagged = (det.state == 1) | (det.state == 2) | (det.confounder > 0)
    tex = texture(comps.isel(period=slice(n_baseline, None)))
    return tex.where(flagged.data).mean("period")


def _dem_streams(pipe: Pipeline, grid: Any) -> np.ndarray | None:
    """Streams traced on the pipeline's DEM, on the AOI grid (see :mod:`geomon.dem`); or None."""
    if pipe.detection.dem is None:
        return None
    from geomon.dem import streams_on_grid

    streams = streams_on_grid(pipe.detection.dem, crs=str(grid.crs), transform=grid.affine,
                              shape=grid.shape.yx,
                              min_catchment_km2=pipe.detection.dem_catchment_km2)
    log.info("DEM %s: streams on %.1f%% of the grid", pipe.detection.dem, 100 * streams.mean())
    return streams


def _with_dem_streams(comps: xr.Dataset, streams: np.ndarray | None) -> xr.Dataset:
    """``comps`` with ``dem_streams`` (y, x), chunked like them, when there are DEM streams."""
    if streams is None:
        return comps
    chunks = comps["clear_count"].data.chunks[1:]
    return comps.assign(dem_streams=(("y", "x"), da.from_array(streams, chunks=chunks)))


def _thresholds_used(values: dict[str, np.ndarray], periods: list[Period]
                     ) -> dict[str, dict[str, float]]:
    """The thresholds the detector set from the data, by name and assessed period; logged."""
    out = {name: {p.label: round(float(v), 4) for p, v in zip(periods, np.atleast_1d(vals),
                                                              strict=True)}
           for name, vals in values.items()}
    for name, per_period in out.items():
        log.info("threshold %s per period: %s", name,
                 ", ".join(f"{k} {v:.3f}" for k, v in per_period.items()))
    return out


def _composites(pipe: Pipeline, aoi: AOI, cube: Cube, detector: Any, every: list[Period],
                tiles: list[Tile], *, rerun: bool, progress: bool, scratch: Path
                ) -> tuple[xr.Dataset, dict[str, Any]]:
    """Per-period composites of every tile: reused from the cache, or computed and stored.

    Each (period, tile) is computed on its own and stored as soon as it is done (see
    :mod:`geomon.cache`), so a run that dies part way loses at most the one in progress. A tile
    is read with a halo as wide as the cloud buffer, so masks match those of the whole grid.
    Returns the lazy composites of the whole grid (dims ``period, y, x``) and what was reused.
    """
    grid = cube.data.odc.geobox
    shape = grid.shape.yx
    buffer_px = 2 * pipe.mask.cloud_buffer_px  # config is in 20 m SCL pixels; grid is 10 m
    # with the cache off, composites live in the run's work folder until the run is written
    root = Path(pipe.outputs) / ".cache" / "composites" if pipe.compute.cache else scratch
    cache = CompositeCache(root, _fingerprint(pipe, aoi, grid))
    keys = {p.label: cache.key(p, _in_period(cube, p)) for p in every}
    todo = [(t, [p for p in every if rerun or not cache.has(keys[p.label], t)]) for t in tiles]
    total = sum(len(m) for _, m in todo)
    reuse = {"tiles": len(tiles), "period_tiles": len(tiles) * len(every),
             "reused": len(tiles) * len(every) - total, "computed": total,
             "cache": str(cache.root) if pipe.compute.cache else None}
    log.info("composites: %d of %d (period, tile) reused, %d to compute", reuse["reused"],
             reuse["period_tiles"], total)
    jobs = []
    for tile, missing in todo:
        if not missing:
            continue
        window = tile.read(buffer_px, shape)
        ds = cube.window(tile.geobox(grid, window))
        clear = clear_sky(ds, buffer_px=buffer_px,
                          keep_bright_ground=pipe.mask.keep_bright_ground,
                          cloud_probability_threshold=_threshold(pipe))
        layers, sums = detector.observation_layers(ds), detector.observation_sums(ds)
        core = tile.core_in(window)
        for p in missing:
            lazy = period_composites(ds, clear, [p], bands=COMPOSITE_BANDS, fractions=layers,
                                     sums=sums)
            jobs.append((tile, p, lazy.isel(period=0, y=core[0], x=core[1], drop=True)))
    bar = Progress(total, "composites", enabled=progress)
    for tile, p, done in _computed(jobs):
        # an asset that failed while being read leaves the composite short of it: used by this
        # run (which reports the period degraded), but not reused by a later one
        complete = cache.key(p, _in_period(cube, p)) == keys[p.label]
        cache.put(keys[p.label], tile, done, reusable=complete)
        checkpoint("composite")
        bar.step(f"{tile.name} {p.label}")
    bar.close()
    comps = cache.open([keys[p.label] for p in every], tiles,
                       coords=xr_coords(grid, crs_coord_name="spatial_ref"))
    acquisitions = [int(np.sum((cube.data.time.values >= np.datetime64(p.start))
                               & (cube.data.time.values < np.datetime64(p.end)
                                  + np.timedelta64(1, "D")))) for p in every]
    return comps.assign_coords(n_acquisitions=("period", acquisitions)), reuse


def _cloud_probability_kw(pipe: Pipeline) -> dict[str, bool]:
    """Ask the source for a cloud probability only when the mask uses one (old sources work)."""
    return {"cloud_probability": True} if pipe.mask.cloud_probability else {}


def _threshold(pipe: Pipeline) -> float | None:
    m = pipe.mask
    return m.cloud_probability_threshold if m.cloud_probability else None


def _computed(jobs: list[tuple[Tile, Period, xr.Dataset]]
              ) -> Iterator[tuple[Tile, Period, xr.Dataset]]:
    """Compute each job's composite; yield it as soon as it is done.

    On local threads one job at a time (each is parallel inside, and memory stays that of one
    period of one tile); on a distributed cluster all are submitted at once and stored in the
    order they finish, so a large cluster is kept busy.
    """
    client = active_client()
    if client is None:
        for tile, p, lazy in jobs:
            (done,) = dask.compute(lazy)
            yield tile, p, done
        return
    from distributed import as_completed

    # one graph for all: jobs share layers (a period's chunks of the same cube), and graphs
    # submitted one by one could drop a shared key another still needs
    futures = dict(zip(client.compute([lazy for _, _, lazy in jobs]),
                       [(tile, p) for tile, p, _ in jobs], strict=True))
    for future, done in as_completed(list(futures), loop=client.loop, with_results=True):
        tile, p = futures.pop(future)
        yield tile, p, done


def _in_period(cube: Cube, p: Period) -> list[dict[str, Any]]:
    """The acquisitions of ``p`` and the assets of it that could not be read."""
    lo, hi = p.start.isoformat(), p.end.isoformat()
    used = [{"id": it["id"], "datetime": it["datetime"]} for it in cube.items
            if lo <= (it["datetime"] or "")[:10] <= hi]
    skipped = [{"id": f"skipped:{s.get('id')}:{s.get('asset')}", "datetime": s.get("datetime")}
               for s in cube.skipped if lo <= (s.get("datetime") or "")[:10] <= hi]
    return used + skipped


def _fingerprint(pipe: Pipeline, aoi: AOI, grid: Any) -> dict[str, Any]:
    """What shapes a composite besides its period (see :mod:`geomon.cache`); no secrets."""
    from geomon.sources._redact import redact_url

    source = pipe.source.model_dump(mode="json", exclude={"retries", "backoff_s", "timeout_s",
                                                          "max_items", "cache_dir"})
    if source.get("url"):
        source["url"] = redact_url(source["url"])
    return {
        "grid": {"crs": str(grid.crs), "affine": list(grid.affine)[:6],
                 "shape": list(grid.shape.yx)},
        "tile_px": pipe.compute.tile_px, "chunk_px": pipe.compute.chunk_px,
        "bands": list(COMPOSITE_BANDS), "source": source,
        "mask": _mask_fingerprint(pipe),
        "detection": pipe.detection.model_dump(mode="json"),
        "geomon": software_versions().get("geomon"),
    }


def _mask_fingerprint(pipe: Pipeline) -> dict[str, Any]:
    """The mask settings; without the cloud-probability keys when it is off, so composites
    cached before the option existed are still reused."""
    off = {"cloud_probability", "cloud_probability_threshold"}
    return pipe.mask.model_dump(mode="json", exclude=off if not pipe.mask.cloud_probability
                                else None)


def _finish(pipe: Pipeline, aoi: AOI, run: RunDir, started: datetime, *, cube: Cube,
            comps: xr.Dataset, state: np.ndarray, conf: np.ndarray, score: np.ndarray,
            flagged_texture: np.ndarray | None, baseline: list[Period], periods: list[Period],
            reuse: dict[str, Any], figures: FigureWriter,
            thresholds: dict[str, dict[str, float]] | None = None,
            streams: np.ndarray | None = None) -> RunResult:
    from geomon.report import Report

    every = [*baseline, *periods]
    composites = comps
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
        min_old_site_ha=pipe.detection.min_old_site_ha, method=pipe.detection.method,
        texture=None if flagged_texture is None else np.where(inside, flagged_texture, np.nan),
    )
    sites, reviewed_areas = _apply_reviews(sites, pipe, aoi, run, state, conf, score,
                                           transform=transform, periods=assessed)
    quality = _quality(every, composites, inside, cube, pipe.detection.min_clear_observations)
    degraded = [q["period"] for q in quality if q["degraded"] and q["period"] in
                {p.label for p in periods}]
    estimate = _estimate(pipe, aoi, reviewed_areas, run)
    # the period maps are drawn from here on, while this process writes the files below
    report = Report(Assessment(
        pipe=pipe, aoi=aoi, run_id=run.run_id, started=started, baseline=baseline,
        periods=periods, sites=sites, reviewed_areas=reviewed_areas, quality=quality,
        estimate=estimate,
        composites=composites, state=state, confounder=conf, transform=transform, crs=crs,
    ), run, figures=figures)

    write_geojson(run.path("detections.geojson"), sites.mining)
    write_geojson(run.path("confounders.geojson"), sites.confounders)
    for i, p in enumerate(periods):
        write_cog(run.path("rasters", f"state_{p.label}.tif"), state[i], transform=transform,
                  crs=crs, nodata=None, colormap=STATE_COLOURS, categories=state_categories(),
                  description=f"digging state {p.label}")
        write_cog(run.path("rasters", f"confounder_{p.label}.tif"), conf[i], transform=transform,
                  crs=crs, colormap=CONFOUNDER_COLOURS, categories=confounder_categories(),
                  description=f"look-alike class {p.label}")
    if streams is not None:
        write_cog(run.path("rasters", "dem_streams.tif"), streams.astype("uint8"),
                  transform=transform, crs=crs, nodata=None,
                  description=f"streams on the DEM (≥ {pipe.detection.dem_catchment_km2} km² "
                              "upstream)")
    for p in every:
        write_composite(run.path("composites", f"{p.label}.tif"), composites.sel(period=p.label),
                        bands=COMPOSITE_BANDS, transform=transform, crs=crs)
    write_text(run.path("areas.csv"), _areas_csv(sites.areas))
    report.write()  # the site maps read the files above
    shutil.rmtree(run.path(".composites"), ignore_errors=True)
    _write_manifest(run, pipe, aoi, cube, quality, started, reuse, thresholds or {})
    checkpoint("outputs")
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
                     min_old_site_ha=pipe.detection.min_old_site_ha,
                     method=pipe.detection.method)
    return sites, kept.areas


def _quality(every: Sequence[Period], composites: Any, inside: np.ndarray, cube: Cube,
             min_clear: int) -> list[dict[str, Any]]:
    """Per period: acquisitions, clear observations in the AOI, skipped assets, degraded flag.

    A period is degraded when under 90% of the AOI had ``min_clear`` clear observations, or when
    an asset of one of its acquisitions could not be read.
    """
    out = []
    counts = composites.clear_count.values  # read once: the composites are lazy
    for i, p in enumerate(every):
        lo, hi = p.start.isoformat(), p.end.isoformat()
        used = [it for it in cube.items if lo <= it["datetime"][:10] <= hi]
        skipped = [s for s in cube.skipped if lo <= s.get("datetime", "")[:10] <= hi]
        c = counts[i][inside]
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
                    quality: list[dict[str, Any]], started: datetime,
                    reuse: dict[str, Any], thresholds: dict[str, dict[str, float]]) -> None:
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
        "dem": ({"file": str(pipe.detection.dem),
                 "sha256": sha256_file(Path(pipe.detection.dem))} if pipe.detection.dem else None),
        "composites": reuse,
        "detection_thresholds": thresholds,
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "outputs": run.checksums(),
    }
    write_json(run.path("manifest.json"), manifest)
