"""Run folders: every run writes under a hidden temporary folder and is renamed when complete.

``outputs/<pipeline>/<run-id>/`` is therefore always a finished run, and a run never writes into,
or over, another run's folder. Inside a run, each file is also written to a temporary name and
renamed, so a reader never sees half a file.

While it runs, a run holds an exclusive lock on ``outputs/<pipeline>/.<run-id>.lock``. A
``.partial`` folder whose lock nobody holds was left by a run that was killed, and the next run of
the pipeline removes it (:func:`sweep_unfinished`); one whose lock is held is a run in progress
and is never touched.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "RunDir",
    "atomic_path",
    "sha256_file",
    "software_versions",
    "sweep_unfinished",
    "write_json",
    "write_text",
]

log = logging.getLogger(__name__)

#: Packages whose versions every manifest records.
VERSIONED = ("geomon", "numpy", "xarray", "dask", "rasterio", "odc-stac", "pystac",
             "pystac-client", "shapely", "geopandas", "pyproj")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        if tmp.exists():
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_json(path: Path, doc: Any) -> Path:
    """Write ``doc`` as indented JSON to ``path`` atomically."""
    return write_text(path, json.dumps(doc, indent=2, default=str) + "\n")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def software_versions() -> dict[str, str]:
    """Versions of Python, GDAL and the packages a result depends on (for manifests, reports)."""
    import platform
    from importlib import metadata

    import rasterio

    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["gdal"] = rasterio.__gdal_version__
    return out


@dataclass(frozen=True)
class RunDir:
    """A run's folder while it is being written (``work``) and once it is complete (``final``)."""

    pipeline: str
    run_id: str
    work: Path
    final: Path
    #: Descriptor holding the run's lock (see the module docstring); None when not locked.
    lock_fd: int | None = field(default=None, compare=False, repr=False)

    @classmethod
    def create(cls, root: Path, pipeline: str, *, now: datetime | None = None) -> RunDir:
        """Make a new, empty work folder for a run of ``pipeline`` under ``root``, locked."""
        now = now or datetime.now(UTC)
        parent = Path(root) / pipeline
        parent.mkdir(parents=True, exist_ok=True)
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        while True:
            run_id = f"{stamp}-{secrets.token_hex(2)}"
            final = parent / run_id
            work = parent / f".{run_id}.partial"
            if final.exists() or work.exists():
                continue
            fd = _try_lock(_lock_path(work))  # before the folder exists: a sweep never sees
            if fd is None:                    # an unlocked live folder
                continue
            work.mkdir()
            return cls(pipeline=pipeline, run_id=run_id, work=work, final=final, lock_fd=fd)

    def path(self, *parts: str) -> Path:
        """A path inside the work folder (parents created)."""
        p = self.work.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def checksums(self) -> dict[str, str]:
        """sha256 of every file written so far, by path relative to the run folder."""
        return {
            str(p.relative_to(self.work)): sha256_file(p)
            for p in sorted(self.work.rglob("*"))
            if p.is_file() and p.name != "manifest.json"
        }

    def finish(self) -> Path:
        """Rename the work folder to its final name; refuses to replace anything."""
        if self.final.exists():
            raise FileExistsError(f"{self.final} exists; refusing to overwrite an earlier run")
        os.rename(self.work, self.final)
        self._unlock()
        return self.final

    def discard(self) -> None:
        """Remove the work folder of a failed run (finished runs are never touched)."""
        shutil.rmtree(self.work, ignore_errors=True)
        self._unlock()

    def _unlock(self) -> None:
        if self.lock_fd is not None:
            _lock_path(self.work).unlink(missing_ok=True)
            os.close(self.lock_fd)  # releases the lock
            object.__setattr__(self, "lock_fd", None)


def sweep_unfinished(root: Path, pipeline: str) -> list[Path]:
    """Remove the ``.partial`` folders of ``pipeline``'s runs that were killed; return them.

    A folder is removed only when no process holds its run's lock, so a run in progress (in this
    or another process on this machine) is never touched. Finished runs are never touched.
    """
    parent = Path(root) / pipeline
    removed = []
    for work in sorted(parent.glob(".*.partial")) if parent.is_dir() else []:
        lock = _lock_path(work)
        fd = _try_lock(lock)
        if fd is None:
            continue  # a live run
        try:
            shutil.rmtree(work, ignore_errors=True)
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
        log.warning("removed %s, left unfinished by a run that was stopped", work)
        removed.append(work)
    return removed


def _lock_path(work: Path) -> Path:
    return work.with_name(work.name.removesuffix(".partial") + ".lock")


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding an exclusive lock on ``path`` (created), or None if held."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
