"""Map files written in worker processes while the caller writes the rest of the report.

A run's maps (PNG at 300 dpi and PDF of each period and of the largest sites) are about half of
its report time and independent of each other. Matplotlib holds the GIL while it draws, so
threads do not help; :class:`MapWriter` queues the maps as job files for a few worker
processes (``python -m geomon.report._workers SCRATCH``) while the caller writes the PDF report,
then draws whatever map no worker has taken yet (:func:`draw_queued`). Workers are plain
subprocesses, not ``multiprocessing`` ones: those re-import the caller's main script, which
breaks scripts that call :func:`geomon.run_pipeline` at top level without an
``if __name__ == "__main__"`` guard, and forking would copy dask's running threads. With one
core the caller draws every map itself, in :meth:`MapWriter.wait`.

Each map is written atomically by :func:`geomon.report.maps.save_figure`, so a run killed
meanwhile leaves no partial file under a final name.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import geomon
from geomon.report.maps import Backdrop, MapLayers, period_figure, save_figure

__all__ = ["MapWriter", "map_workers"]

#: Most worker processes a run starts for its maps (each costs about a second to start).
MAX_WORKERS = 3


def map_workers(n_maps: int, cpus: int | None = None) -> int:
    """Worker processes worth starting for ``n_maps`` maps: one core is left to the caller,
    which writes the PDF report meanwhile; 0 (draw in the caller) on a single core."""
    cpus = cpus or os.cpu_count() or 1
    return max(0, min(n_maps, cpus - 1, MAX_WORKERS))


class MapWriter:
    """Collect maps with :meth:`period_map` / :meth:`site_pair`, :meth:`start` the workers,
    then :meth:`wait` for the files.

    Parameters
    ----------
    scratch
        A folder for the job files, claims and worker logs (inside the run's work folder; the
        caller removes it).

    Examples
    --------
    >>> writer = MapWriter(scratch=run.path(".maps"))                      # doctest: +SKIP
    >>> writer.period_map(run.path("maps", "2024Q3"), backdrop, layers, title="…",
    ...                   attribution="…")
    >>> writer.start()
    >>> write_pdf(...)                        # meanwhile, in this process
    >>> writer.wait()                         # every map file is in place
    """

    def __init__(self, *, scratch: Path) -> None:
        self.scratch = Path(scratch)
        self._jobs: list[tuple[str, tuple[Any, ...]]] = []
        self._procs: list[tuple[subprocess.Popen, Path]] = []

    def period_map(self, stem: Path, backdrop: Backdrop, layers: MapLayers, *, title: str,
                   attribution: str) -> None:
        """``stem.png`` and ``stem.pdf`` of one period's map (:func:`period_figure`)."""
        self._jobs.append(("period", (stem, backdrop, layers, title, attribution)))

    def site_pair(self, stem: Path, pair: Any) -> None:
        """``stem.png`` and ``stem.pdf`` of a :class:`~geomon.report.site_maps.SitePair`."""
        self._jobs.append(("pair", (stem, pair)))

    def start(self) -> None:
        """Start drawing the maps collected so far in workers (none on a single core)."""
        n = map_workers(len(self._jobs))
        if not n:
            return
        self.scratch.mkdir(parents=True, exist_ok=True)
        for i, job in enumerate(self._jobs):
            (self.scratch / f"{i:04d}.job").write_bytes(
                pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
        self._jobs = []
        # the workers import this geomon, installed or not
        paths = [str(Path(geomon.__file__).parent.parent), os.environ.get("PYTHONPATH", "")]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))
        for i in range(n):
            log = self.scratch / f"worker-{i}.log"
            with open(log, "wb") as err:
                proc = subprocess.Popen([sys.executable, "-m", "geomon.report._workers",
                                         str(self.scratch)], stdout=err, stderr=err, env=env)
            self._procs.append((proc, log))

    def wait(self) -> None:
        """Draw the maps no worker has taken yet, then wait for the workers; raise if one
        failed (with its error)."""
        for job in self._jobs:
            draw(job)
        self._jobs = []
        if self._procs:
            draw_queued(self.scratch)
        failed = []
        for proc, log in self._procs:
            if proc.wait() != 0:
                last = (log.read_text(errors="replace").strip().splitlines() or ["no output"])[-1]
                failed.append(f"exit {proc.returncode}: {last}")
        self._procs = []
        if failed:
            raise RuntimeError("map worker failed: " + "; ".join(failed))

    def close(self) -> None:
        """Stop workers still running (after an error elsewhere); their maps are not renamed
        into place."""
        for proc, _ in self._procs:
            proc.kill()
            proc.wait()
        self._procs = []


def draw(job: tuple[str, tuple[Any, ...]]) -> None:
    """Write the map of one job (as collected by :class:`MapWriter`) here and now."""
    kind, args = job
    if kind == "period":
        stem, backdrop, layers, title, attribution = args
        fig = period_figure(backdrop, layers, title=title, attribution=attribution)
    else:
        stem, pair = args
        fig = pair.figure()
    save_figure(fig, stem)


def draw_queued(scratch: Path) -> None:
    """Draw every job file in ``scratch`` that no other process has claimed.

    A job is claimed by creating ``<job>.claim`` exclusively, so the workers and the caller
    share the queue without a coordinator and each map is drawn once.
    """
    for job in sorted(scratch.glob("*.job")):
        try:
            os.close(os.open(job.with_suffix(".claim"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue
        draw(pickle.loads(job.read_bytes()))


def _main(scratch: Path) -> int:
    try:
        draw_queued(scratch)
    except Exception as exc:  # one line for the caller's error message, not a traceback
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(Path(sys.argv[1])))
