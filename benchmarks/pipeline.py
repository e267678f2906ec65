"""Speed and memory of a full assessment against the bare imagery read, at several sizes.

For each scene size (pixels per side at 10 m) and date span (6 months, 1 year), on the same
generated scene and the same STAC items, two measurements run side by side, each in a fresh
Python process so neither inherits the other's caches or memory:

``floor``
    ``odc.stac.load(items, bands=[*BANDS, "scl"], crs=..., resolution=10, chunks=...,
    groupby="solar_day").compute()``: reading and decoding every asset the pipeline reads
    (``geomon.sources.BANDS`` and SCL) onto the AOI grid with odc-stac, the pipeline's
    resampling and chunks: the bare load of the same assets. (The pipeline reads its 20 m
    bands faster than this, see :mod:`geomon.sources._native`.)
``full``
    :func:`geomon.pipeline.run_pipeline` on a pipeline file over the same scene and dates:
    search, asset checks, mask, composites, detection, polygons, rasters, report, manifest.
    As a first run: ``rerun=True``, so no composite of an earlier run is reused.

Each side records the acquisitions and grid it computed (``full``: from the run's manifest and
composites); the benchmark stops if they differ, as there is then no ratio to speak of.

Reported per row: pixels × dates, seconds of each, the ratio full/floor, the ratio of their
CPU seconds (this process and its finished children: steadier than wall time on a shared
machine), the seconds ``full`` spends inside dask computations and in the report's code in the
run's own process (its maps and PDF are drawn by worker processes meanwhile, see
:mod:`geomon.report._workers`), and the peak resident memory of each process tree (sampled,
or ``ru_maxrss`` where higher). On stderr, each repeat's pair: seconds, ratio and CPU seconds.
Below the table, how time and memory grow from one size to the next, as the exponent ``k`` in
cost ∝ pixels^k.

Run from the repository root::

    .venv/bin/python benchmarks/pipeline.py --sizes 256 512 1024 --cache /tmp/geomon-bench

Scenes are generated once into ``--cache`` (1024 px × 1 year takes about 35 s) and reused.
Seconds on a shared machine vary from run to run; the ratio, measured in the same run on the
same inputs, is the number to compare (DESIGN.md section 6).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

#: Date spans: name → (first day loaded, last assessed day). Periods are quarters; the first
#: quarter is the baseline, so "6m" assesses 2024Q2 and "1y" assesses 2024Q2–Q4.
SPANS: dict[str, tuple[str, str]] = {"6m": ("2024-01-01", "2024-06-30"),
                                     "1y": ("2024-01-01", "2024-12-31")}
SCENE_YEAR = ("2024-01-01", "2024-12-31")


@dataclass(frozen=True)
class Measurement:
    """One measured process: wall seconds of the work, peak memory, grid size."""

    mode: str
    seconds: float
    cpu_seconds: float
    dask_seconds: float | None
    report_seconds: float
    peak_rss_mb: float
    start_rss_mb: float
    dates: int
    height: int
    width: int


@dataclass(frozen=True)
class Row:
    """Floor and full assessment of one size and span."""

    size: int
    span: str
    floor: Measurement
    full: Measurement

    @property
    def pixel_dates(self) -> int:
        return self.floor.height * self.floor.width * self.floor.dates

    @property
    def ratio(self) -> float:
        return self.full.seconds / self.floor.seconds


# -- set-up: scenes, AOIs and pipeline files ----------------------------------------------------

def scene_for(cache: Path, scenario: str, seed: int, size: int) -> Any:
    """The cached one-year scene of ``size`` px (generated on first use)."""
    from geomon.sample import generate_scene, load_scene

    root = cache / "scenes" / f"{scenario}-s{seed}-{size}px-2024"
    if (root / "scene.json").exists():
        return load_scene(root)
    print(f"generating {scenario} seed {seed}, {size} px, 2024 ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    scene = generate_scene(root, scenario=scenario, seed=seed, size=size, start=SCENE_YEAR[0],
                           end=SCENE_YEAR[1])
    print(f"  {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return scene


def write_pipeline(work: Path, scene: Any, span: str, chunk_px: int) -> Path:
    """An AOI over the scene and a pipeline file for ``span`` (see geomon.benchmark)."""
    from geomon.benchmark import write_scene_pipeline

    first, last = SPANS[span]
    return write_scene_pipeline(work, scene, name=f"bench-{scene.size}-{span}", start=first,
                                end=last, compute={"chunk_px": chunk_px})


# -- one measurement, in its own process ---------------------------------------------------------

def _rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux: KiB


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its children that have finished (the
    report's figure workers are waited for before a run ends)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _current_rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


class TreeRss:
    """Peak RSS of this process and all its children together, sampled every ``interval`` s
    while in the ``with`` block (the report's map workers run beside the main process)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval, self.peak_mb = interval, 0.0
        self._stop = threading.Event()

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.wait(self.interval):
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:  # a child that just exited
                    pass
            self.peak_mb = max(self.peak_mb, total / 2**20)

    def __enter__(self) -> TreeRss:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def measure(mode: str, pipeline: Path, scheduler: str | None) -> Measurement:
    """Run the ``floor`` or ``full`` work of ``pipeline`` in this process and measure it."""
    import dask
    import odc.stac
    import rasterio
    from dask.callbacks import Callback
    from odc.geo.geom import Geometry
    from shapely.geometry import mapping

    from geomon.aoi import load_aoi
    from geomon.cluster import dask_client
    from geomon.config import load_pipeline
    from geomon.pipeline import run_pipeline
    from geomon.sources import BANDS, SCL, StacSource

    pipe = load_pipeline(pipeline)
    aoi = load_aoi(pipe.aoi, directory=pipe.aoi_dir, max_area_km2=pipe.max_aoi_km2)
    every = [*pipe.baseline(), *pipe.periods()]
    items = StacSource(pipe.source).search(aoi, every[0].start, every[-1].end)
    chunks = {"time": 1, "x": pipe.compute.chunk_px, "y": pipe.compute.chunk_px}

    def lazy_floor() -> Any:
        return odc.stac.load(
            items, bands=[*BANDS, SCL], geopolygon=Geometry(mapping(aoi.geometry), "EPSG:4326"),
            crs=aoi.crs, resolution=10, chunks=chunks, groupby="solar_day",
            resampling={"*": "bilinear", SCL: "nearest"},  # as the pipeline reads them
        )

    in_dask = [0.0]
    t_start: dict[int, float] = {}

    def started(dsk: Any) -> None:
        t_start[id(dsk)] = time.perf_counter()

    def finished(dsk: Any, state: Any, errored: bool) -> None:
        in_dask[0] += time.perf_counter() - t_start.pop(id(dsk), time.perf_counter())

    from geomon.report import Report

    in_report = [0.0]

    def timed(method: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                in_report[0] += time.perf_counter() - t
        return run

    Report.__init__, Report.write = timed(Report.__init__), timed(Report.write)
    start_rss = _current_rss_mb()
    with dask_client(scheduler), Callback(start=started, finish=finished), TreeRss() as tree:
        t0, cpu0 = time.perf_counter(), _cpu_seconds()
        if mode == "floor":
            with rasterio.Env():
                (cube,) = dask.compute(lazy_floor())
            dates, height, width = cube.sizes["time"], cube.sizes["y"], cube.sizes["x"]
            del cube
        else:
            result = run_pipeline(pipeline, rerun=True)  # a first run: no composite reused
        seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    if mode == "full":
        dates, height, width = _run_grid(result.run_dir)
    # the sampled tree total, or the process's own maximum if a short peak fell between samples
    peak = max(tree.peak_mb, _rss_mb(resource.RUSAGE_SELF), _rss_mb(resource.RUSAGE_CHILDREN))
    return Measurement(mode=mode, seconds=seconds, cpu_seconds=cpu,
                       dask_seconds=in_dask[0] if scheduler is None else None,
                       report_seconds=in_report[0],
                       peak_rss_mb=peak, start_rss_mb=start_rss, dates=dates, height=height,
                       width=width)


def _run_grid(run_dir: Path) -> tuple[int, int, int]:
    """Acquisitions (solar days) and grid rows and columns a finished run computed: from its
    manifest and its first composite."""
    import rasterio

    manifest = json.loads((run_dir / "manifest.json").read_text())
    periods = manifest["periods"]
    with rasterio.open(run_dir / "composites" / f"{periods[0]['period']}.tif") as src:
        return sum(p["acquisitions"] for p in periods), src.height, src.width


def measure_in_subprocess(mode: str, pipeline: Path, scheduler: str | None) -> Measurement:
    """:func:`measure` in a fresh interpreter; its JSON answer is the last stdout line."""
    cmd = [sys.executable, __file__, "measure", mode, str(pipeline)]
    if scheduler:
        cmd += ["--scheduler", scheduler]
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} measurement of {pipeline} failed:\n{proc.stderr[-3000:]}")
    return Measurement(**json.loads(proc.stdout.strip().splitlines()[-1]))


def _median(ms: Sequence[Measurement]) -> Measurement:
    """The measurement with the median time (peak memory: the largest seen)."""
    ordered = sorted(ms, key=lambda m: m.seconds)
    mid = ordered[len(ordered) // 2]
    return Measurement(**{**asdict(mid), "peak_rss_mb": max(m.peak_rss_mb for m in ms)})


# -- the table ------------------------------------------------------------------------------------

def format_table(rows: Sequence[Row], *, markdown: bool = False) -> str:
    """The results table and, below it, growth exponents between consecutive sizes."""
    head = ["size px", "span", "dates", "px × dates", "floor s", "full s", "full/floor",
            "CPU full/floor", "full in dask s", "report s", "floor peak MB", "full peak MB"]
    body = [[f"{r.size}", r.span, f"{r.floor.dates}", f"{r.pixel_dates / 1e6:,.1f} M",
             f"{r.floor.seconds:.1f}", f"{r.full.seconds:.1f}", f"{r.ratio:.2f}",
             f"{r.full.cpu_seconds / r.floor.cpu_seconds:.2f}",
             "" if r.full.dask_seconds is None else f"{r.full.dask_seconds:.1f}",
             f"{r.full.report_seconds:.1f}",
             f"{r.floor.peak_rss_mb:,.0f}", f"{r.full.peak_rss_mb:,.0f}"] for r in rows]
    grow_head = ["span", "size", "× px·dates", "floor time k", "full time k",
                 "floor mem k", "full mem k"]
    grow = []
    for span in dict.fromkeys(r.span for r in rows):
        same = sorted((r for r in rows if r.span == span), key=lambda r: r.size)
        for lo, hi in pairwise(same):
            n = hi.pixel_dates / lo.pixel_dates

            def k(a: float, b: float, n: float = n) -> str:
                return f"{math.log(b / a) / math.log(n):.2f}" if a > 0 and b > 0 else ""

            grow.append([span, f"{lo.size}→{hi.size}", f"{n:.1f}",
                         k(lo.floor.seconds, hi.floor.seconds),
                         k(lo.full.seconds, hi.full.seconds),
                         k(lo.floor.peak_rss_mb, hi.floor.peak_rss_mb),
                         k(lo.full.peak_rss_mb, hi.full.peak_rss_mb)])
    note = ("k: cost ∝ (pixels × dates)^k between consecutive sizes (1 = linear). Peak MB "
            "includes the interpreter and libraries (start-of-work RSS: floor "
            + ", ".join(f"{r.floor.start_rss_mb:.0f}" for r in rows[:1])
            + " MB, full " + ", ".join(f"{r.full.start_rss_mb:.0f}" for r in rows[:1])
            + " MB).")
    return "\n".join([*_render(head, body, markdown), "", *_render(grow_head, grow, markdown),
                      "", note])


def _render(head: list[str], body: list[list[str]], markdown: bool) -> list[str]:
    if markdown:
        return ["| " + " | ".join(head) + " |", "|" + "|".join("---:" for _ in head) + "|",
                *("| " + " | ".join(r) + " |" for r in body)]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h)
              for i, h in enumerate(head)]
    return ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True))
            for row in [head, *body]]


# -- command line ---------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    m = sub.add_parser("measure", help="(internal) one measurement; prints JSON")
    m.add_argument("mode", choices=["floor", "full"])
    m.add_argument("pipeline", type=Path)
    m.add_argument("--scheduler", default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024],
                        help="scene sizes, px per side (default: 256 512 1024)")
    parser.add_argument("--spans", nargs="+", choices=list(SPANS), default=list(SPANS),
                        help="date spans (default: 6m 1y)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/geomon-bench"),
                        help="folder for generated scenes and runs (default: /tmp/geomon-bench)")
    parser.add_argument("--scenario", default="seguela")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk-px", type=int, default=1024,
                        help="dask chunk side, as compute.chunk_px (default: 1024)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure each cell N times and keep the median time")
    parser.add_argument("--scheduler", default=None,
                        help="run both on this dask scheduler (memory then excludes workers)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)

    if args.command == "measure":
        result = measure(args.mode, args.pipeline, args.scheduler)
        print(json.dumps(asdict(result)))
        return 0

    cache = args.cache.resolve()
    rows = []
    for size in args.sizes:
        scene = scene_for(cache, args.scenario, args.seed, size)
        for span in args.spans:
            pipe = write_pipeline(cache / "work" / f"{size}px-{span}", scene, span,
                                  args.chunk_px)
            runs: dict[str, list[Measurement]] = {"floor": [], "full": []}
            for _ in range(args.repeat):
                for mode in ("floor", "full"):  # interleaved: drift hits both alike
                    runs[mode].append(measure_in_subprocess(mode, pipe, args.scheduler))
            grids = {(m.mode, m.dates, m.height, m.width) for m in runs["floor"] + runs["full"]}
            if len({g[1:] for g in grids}) != 1:  # not the same work: no ratio to speak of
                raise SystemExit(f"{pipe}: floor and full read different grids or dates "
                                 f"(mode, dates, rows, columns): {sorted(grids)}")
            row = Row(size=size, span=span, floor=_median(runs["floor"]),
                      full=_median(runs["full"]))
            pairs = "; ".join(
                f"{a.seconds:.1f} / {b.seconds:.1f} s = {b.seconds / a.seconds:.2f} "
                f"(CPU {a.cpu_seconds:.0f} / {b.cpu_seconds:.0f} s)"
                for a, b in zip(runs["floor"], runs["full"], strict=True))
            print(f"{size} px {span}: floor {row.floor.seconds:.1f} s, full "
                  f"{row.full.seconds:.1f} s ({row.ratio:.2f}×); each pair, floor / full: "
                  f"{pairs}", file=sys.stderr, flush=True)
            rows.append(row)
    print(format_table(rows, markdown=args.markdown))
    if args.json:
        args.json.write_text(json.dumps([{**asdict(r), "pixel_dates": r.pixel_dates,
                                          "ratio": r.ratio} for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
