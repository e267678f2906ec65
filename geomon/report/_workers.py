"""Maps and the PDF report drawn in worker processes while the caller writes the rest of the run.

A run's maps (PNG at 300 dpi and PDF of each period and of the largest sites) and its PDF
report are most of its report time and independent of each other. Matplotlib holds the GIL
while it draws, so threads do not help; :class:`FigureWriter` hands them as job files to a few
worker processes (``python -m geomon.report._workers SCRATCH``) while the caller writes the
rest, then draws whatever no worker has taken yet (:func:`draw_queued`). Workers are plain
subprocesses, not ``multiprocessing`` ones: those re-import the caller's main script, which
breaks scripts that call :func:`geomon.run_pipeline` at top level without an
``if __name__ == "__main__"`` guard, and forking would copy dask's running threads. With one
core the caller draws everything itself, in :meth:`FigureWriter.wait`.

The pipeline starts the workers when a run starts, so they import matplotlib and the rest while
the run searches the catalogue on one core, and queues each job as soon as its data exist; an
idle worker polls the queue. A worker exits once the queue is closed and empty, or when the
process that started it is gone (a killed run leaves no worker behind).

Each file is written atomically (:func:`geomon.report.maps.save_figure`,
:func:`geomon.report.pdf.write_pdf`), so a run killed meanwhile leaves no partial file under a
final name. With ``preview_scale`` each map job also makes the map's preview for the HTML
report (:func:`geomon.report.maps.preview_data_uri`), in the process that drew it.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import geomon
from geomon.allocator import collect_less, keep_freed_memory
from geomon.report.maps import (
    Backdrop,
    MapLayers,
    period_figure,
    preview_data_uri,
    save_figure_pixels,
)
from geomon.report.pdf import write_pdf
from geomon.runs import write_text

__all__ = ["FigureWriter", "worker_count"]

#: Most worker processes a run starts for its figures (each costs about a second to start).
MAX_WORKERS = 3
#: Seconds an idle worker waits before looking at the queue again.
POLL_S = 0.05
#: Marker file: no more jobs will be queued.
CLOSED = "queue.closed"


def worker_count(n_jobs: int, cpus: int | None = None) -> int:
    """Worker processes worth starting for ``n_jobs`` figures: one core is left to the caller,
    which writes the rest meanwhile; 0 (draw in the caller) on a single core."""
    cpus = cpus or os.cpu_count() or 1
    return max(0, min(n_jobs, cpus - 1, MAX_WORKERS))


class FigureWriter:
    """:meth:`start` the workers, queue maps and the PDF report with :meth:`period_map`,
    :meth:`site_pair` and :meth:`report_pdf` (before or after the start), then :meth:`wait`
    for the files. Workers take jobs in the order they were queued.

    Parameters
    ----------
    scratch
        A folder for the job files, claims, previews and worker logs (inside the run's work
        folder; the caller removes it).
    preview_scale
        Also make each map's preview at this fraction of its PNG's size (see
        :meth:`wait`); None: no previews.

    Examples
    --------
    >>> writer = FigureWriter(scratch=run.path(".maps"))                   # doctest: +SKIP
    >>> writer.start(expected=7)              # workers import while the run goes on
    >>> writer.period_map(run.path("maps", "2024Q3"), backdrop, layers, title="…",
    ...                   attribution="…")    # drawn by a worker from now on
    >>> writer.report_pdf(run.path("report.pdf"), ctx, period_maps, site_pairs)
    >>> write_exports(...)                    # meanwhile, in this process
    >>> writer.wait()                         # every file is in place
    """

    def __init__(self, *, scratch: Path, preview_scale: float | None = None) -> None:
        self.scratch = Path(scratch)
        self.preview_scale = preview_scale
        self._jobs: list[tuple[str, tuple[Any, ...]]] = []  # not yet handed to workers
        self._stems: list[Path] = []  # of every job queued, by job number
        self._procs: list[tuple[subprocess.Popen, Path]] = []

    def period_map(self, stem: Path, backdrop: Backdrop, layers: MapLayers, *, title: str,
                   attribution: str) -> None:
        """``stem.png`` and ``stem.pdf`` of one period's map (:func:`period_figure`)."""
        self._queue(stem, ("period", (stem, backdrop, layers, title, attribution)))

    def site_pair(self, stem: Path, pair: Any) -> None:
        """``stem.png`` and ``stem.pdf`` of a :class:`~geomon.report.site_maps.SitePair`."""
        self._queue(stem, ("pair", (stem, pair)))

    def report_pdf(self, path: Path, ctx: dict[str, Any],
                   period_maps: dict[str, tuple[Backdrop, MapLayers, str]],
                   site_pairs: list[Any]) -> None:
        """The PDF report (:func:`geomon.report.pdf.write_pdf`); it has no preview."""
        self._queue(path, ("pdf", (path, ctx, period_maps, site_pairs)))

    def start(self, *, expected: int | None = None) -> None:
        """Start the workers: as many as ``expected`` jobs are worth (default: the jobs queued
        so far; see :func:`worker_count`), none on a single core. Jobs queued so far, and from
        now on, go to them."""
        n = worker_count(len(self._jobs) if expected is None else expected)
        if not n:
            return
        self.scratch.mkdir(parents=True, exist_ok=True)
        jobs, self._jobs = self._jobs, []
        for number, job in enumerate(jobs):
            self._hand_over(number, job)
        # the workers import this geomon, installed or not
        paths = [str(Path(geomon.__file__).parent.parent), os.environ.get("PYTHONPATH", "")]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))
        cmd = [sys.executable, "-m", "geomon.report._workers", str(self.scratch),
               str(os.getpid()), "" if self.preview_scale is None else str(self.preview_scale)]
        for i in range(n):
            log = self.scratch / f"worker-{i}.log"
            with open(log, "wb") as err:
                self._procs.append((subprocess.Popen(cmd, stdout=err, stderr=err, env=env),
                                    log))

    def wait(self) -> dict[str, str]:
        """Close the queue, draw the jobs no worker has taken, then wait for the workers; raise
        if one failed (with its error). Returns each map's preview (``data:`` URI) by the name
        of its files (``stem.name``) when ``preview_scale`` is set."""
        previews = {}
        for job in self._jobs:
            previews[job[1][0].name] = draw(job, self.preview_scale)
        self._jobs = []
        if self._procs:
            write_text(self.scratch / CLOSED, "")
            draw_queued(self.scratch, self.preview_scale)
        failed = []
        for proc, log in self._procs:
            if proc.wait() != 0:
                last = (log.read_text(errors="replace").strip().splitlines() or ["no output"])[-1]
                failed.append(f"exit {proc.returncode}: {last}")
        if failed:
            self._procs = []
            raise RuntimeError("figure worker failed: " + "; ".join(failed))
        if self._procs and self.preview_scale is not None:
            for number, stem in enumerate(self._stems):
                done = self.scratch / f"{number:04d}.preview"
                if stem.name not in previews and done.exists():
                    previews[stem.name] = done.read_text()
        self._procs = []
        return {name: uri for name, uri in previews.items() if uri is not None}

    def close(self) -> None:
        """Stop workers still running (after an error elsewhere); their files are not renamed
        into place."""
        for proc, _ in self._procs:
            proc.kill()
            proc.wait()
        self._procs = []

    def _queue(self, stem: Path, job: tuple[str, tuple[Any, ...]]) -> None:
        self._stems.append(stem)
        if self._procs:
            self._hand_over(len(self._stems) - 1, job)
        else:
            self._jobs.append(job)

    def _hand_over(self, number: int, job: tuple[str, tuple[Any, ...]]) -> None:
        """Write the job file; a worker sees it only once complete (atomic rename)."""
        path = self.scratch / f"{number:04d}.job"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, path)


def draw(job: tuple[str, tuple[Any, ...]], preview_scale: float | None = None) -> str | None:
    """Write the file(s) of one job (as queued by :class:`FigureWriter`) here and now; return
    its preview at ``preview_scale`` (None without one, and for the PDF report)."""
    kind, args = job
    if kind == "pdf":
        path, ctx, period_maps, site_pairs = args
        write_pdf(path, ctx, period_maps=period_maps, site_pairs=site_pairs)
        return None
    if kind == "period":
        stem, backdrop, layers, title, attribution = args
        fig = period_figure(backdrop, layers, title=title, attribution=attribution)
    else:
        stem, pair = args
        fig = pair.figure()
    _, pixels = save_figure_pixels(fig, stem)
    return None if preview_scale is None else preview_data_uri(pixels, scale=preview_scale)


def draw_queued(scratch: Path, preview_scale: float | None = None) -> int:
    """Draw every job file in ``scratch`` that no other process has claimed; return how many
    this call drew. Each preview goes next to its job (``NNNN.preview``).

    A job is claimed by creating ``<job>.claim`` exclusively, so the workers and the caller
    share the queue without a coordinator and each map is drawn once.
    """
    drawn = 0
    for job in sorted(scratch.glob("*.job")):
        try:
            os.close(os.open(job.with_suffix(".claim"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue
        preview = draw(pickle.loads(job.read_bytes()), preview_scale)
        if preview is not None:
            write_text(job.with_suffix(".preview"), preview)
        drawn += 1
    return drawn


def _main(scratch: Path, parent: int, preview_scale: float | None) -> int:
    keep_freed_memory()  # each map renders and encodes arrays of tens of MB
    collect_less()  # matplotlib is imported; drawing creates artists by the thousand
    try:
        while os.getppid() == parent:
            closed = (scratch / CLOSED).exists()  # before looking: no job comes after it
            if draw_queued(scratch, preview_scale) == 0:
                if closed:
                    return 0
                time.sleep(POLL_S)
    except Exception as exc:  # one line for the caller's error message, not a traceback
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 1  # the run that started this worker is gone


if __name__ == "__main__":
    sys.exit(_main(Path(sys.argv[1]), int(sys.argv[2]),
                   float(sys.argv[3]) if sys.argv[3:] and sys.argv[3] else None))
