"""Progress of long work: a bar on a terminal, log lines elsewhere (cron, schedulers, files).

Steps are units of work of roughly equal size (a period of a tile); the estimate of the time left
is the mean step time so far × the steps to go.

>>> bar = Progress(2, "composites", enabled=False)
>>> bar.step("r000c000 2024Q1"); bar.step("r000c000 2024Q2"); bar.close()
>>> bar.done
2
"""

from __future__ import annotations

import logging
import sys
import time

__all__ = ["Progress", "checkpoint"]

log = logging.getLogger("geomon.progress")


class Progress:
    """Counts ``total`` steps of ``what``; draws a bar on stderr when ``enabled``.

    Every step is also logged at INFO (``composites 3/16 r000c001 2024Q3, ~1m20s left``), so
    ``--log-format json`` carries the same progress a terminal shows.
    """

    def __init__(self, total: int, what: str, *, enabled: bool = False, width: int = 30) -> None:
        self.total, self.what, self.enabled, self.width = total, what, enabled, width
        self.done = 0
        self.started = time.monotonic()

    def step(self, label: str = "") -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        left = elapsed / self.done * (self.total - self.done)
        log.info("%s %d/%d %s, ~%s left", self.what, self.done, self.total, label,
                 _duration(left))
        if self.enabled and self.total:
            filled = round(self.width * self.done / self.total)
            bar = "#" * filled + "." * (self.width - filled)
            sys.stderr.write(f"\r{self.what} [{bar}] {self.done}/{self.total} {label:<20} "
                             f"{_duration(elapsed)} elapsed, ~{_duration(left)} left ")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.total:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _duration(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


def checkpoint(name: str) -> None:
    """Die here, by SIGKILL, when ``GEOMON_KILL_AT`` names this point (crash-safety tests).

    ``GEOMON_KILL_AT=composite:2`` kills the process at the second time it passes the
    ``composite`` point. Points: ``composite`` (a (period, tile) composite was stored),
    ``outputs`` (all outputs are written, the run folder is not yet renamed), ``finished`` (the
    run folder has its final name, the run index is not yet updated).
    """
    import os

    target = os.environ.get("GEOMON_KILL_AT")
    if not target:
        return
    point, _, nth = target.partition(":")
    if point != name:
        return
    _passed[name] = _passed.get(name, 0) + 1
    if _passed[name] >= int(nth or 1):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


_passed: dict[str, int] = {}
