"""Per-period composites kept between runs, so a run computes only what is new.

Reading and compositing the imagery is nearly all of a run's cost; detection, polygons and reports
are cheap. So the composites of each (period, tile) are stored under
``<outputs>/.cache/composites/<fingerprint>/<period>-<inputs>/<tile>/`` as one ``.npy`` file per
variable, and a later run with the same inputs reuses them:

- the *fingerprint* covers everything that shapes a composite except the period: the AOI grid,
  the tile size, the source, mask and detection settings and the cache format;
- the *inputs* key covers the period's dates and the acquisitions in it (item ids and times), so
  a new or reprocessed acquisition makes the period be computed again.

Each (period, tile) folder is written under a temporary name and renamed when complete, so a run
killed at any point leaves either a whole entry or none. The cache can be deleted at any time; the
next run recomputes what it needs.

Each run marks the fingerprint and period folders it uses (their modification time), so
:func:`prune` (``geomon cache prune``) can remove what no run has used for a while: settings no
pipeline has any more, periods whose acquisitions changed, and temporary folders of killed runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr

from geomon.config import Period
from geomon.runs import write_json
from geomon.tiles import Tile

__all__ = ["CompositeCache", "PeriodKey", "PruneSummary", "prune"]

#: Bumped when the stored layout or the meaning of a composite changes.
FORMAT = 1


@dataclass(frozen=True)
class PeriodKey:
    """A period and the digest of the acquisitions that make its composite."""

    period: Period
    inputs: str

    @property
    def folder(self) -> str:
        return f"{self.period.label}-{self.inputs}"


def _digest(doc: Any) -> str:
    text = json.dumps(doc, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class CompositeCache:
    """Composites per (period, tile) on disk, keyed by what they were made from.

    Parameters
    ----------
    root
        The cache folder (``<outputs>/.cache/composites``).
    fingerprint
        JSON-able description of everything but the period that shapes a composite. Stored as
        ``fingerprint.json`` next to the entries; it must hold no secret.
    """

    def __init__(self, root: Path, fingerprint: Mapping[str, Any]) -> None:
        doc = {"format": FORMAT, **fingerprint}
        self.root = Path(root) / _digest(doc)
        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.root / "fingerprint.json").exists():
            write_json(self.root / "fingerprint.json", doc)
        os.utime(self.root)  # used now (see prune)

    @staticmethod
    def key(period: Period, items: Sequence[Mapping[str, Any]]) -> PeriodKey:
        """The key of ``period`` made from ``items`` (each with ``id`` and ``datetime``)."""
        acquisitions = sorted((str(i["id"]), str(i["datetime"])) for i in items)
        return PeriodKey(period, _digest([period.start, period.end, acquisitions]))

    def _entry(self, key: PeriodKey, tile: Tile) -> Path:
        return self.root / key.folder / tile.name

    def has(self, key: PeriodKey, tile: Tile) -> bool:
        """Is there a complete, reusable entry for ``key`` and ``tile``?"""
        meta = self._entry(key, tile) / "meta.json"
        found = meta.exists() and json.loads(meta.read_text()).get("reusable", True)
        if found:
            os.utime(self.root / key.folder)  # used now (see prune)
        return found

    def put(self, key: PeriodKey, tile: Tile, composite: xr.Dataset, *,
            reusable: bool = True) -> None:
        """Store one period's composite of ``tile`` (dims ``y, x``, in memory), atomically.

        An entry stored with ``reusable=False`` (made while some of its imagery could not be
        read) can be opened by the run that made it but is not offered to later runs.
        """
        final = self._entry(key, tile)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.{secrets.token_hex(4)}.tmp")
        tmp.mkdir()
        try:
            variables = {}
            for name, var in composite.data_vars.items():
                arr = np.ascontiguousarray(var.values)
                if arr.shape != tile.shape:
                    raise ValueError(f"{name} has shape {arr.shape}, tile {tile.name} is "
                                     f"{tile.shape}")
                with open(tmp / f"{name}.npy", "wb") as fh:
                    np.save(fh, arr)
                    fh.flush()
                    os.fsync(fh.fileno())
                variables[name] = str(arr.dtype)
            meta = {"period": key.period.label, "tile": tile.name, "variables": variables,
                    "reusable": reusable}
            (tmp / "meta.json").write_text(json.dumps(meta) + "\n")
            if final.exists():  # --rerun: replace the old entry
                old = final.with_name(f".{final.name}.{secrets.token_hex(4)}.old")
                os.rename(final, old)
                shutil.rmtree(old, ignore_errors=True)
            os.rename(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def open(self, keys: Sequence[PeriodKey], tiles: Sequence[Tile], *,
             coords: Mapping[str, Any]) -> xr.Dataset:
        """The stored composites of ``keys`` over all ``tiles`` as one lazy Dataset.

        Dims ``(period, y, x)``, one dask chunk per tile and period; every entry must exist.
        ``coords`` gives the AOI grid's ``y``/``x`` (and ``spatial_ref``) coordinates.
        """
        for key in keys:
            os.utime(self.root / key.folder)  # used now (see prune)
        rows = sorted({t.row for t in tiles})
        cols = sorted({t.col for t in tiles})
        by_place = {(t.row, t.col): t for t in tiles}
        first = json.loads((self._entry(keys[0], tiles[0]) / "meta.json").read_text())
        variables: dict[str, str] = first["variables"]
        data = {}
        for name, dtype in variables.items():
            per_period = []
            for key in keys:
                blocks = [[self._lazy(key, by_place[r, c], name, dtype) for c in cols]
                          for r in rows]
                per_period.append(da.block(blocks))
            data[name] = (("period", "y", "x"), da.stack(per_period))
        index = [k.period.label for k in keys]
        return xr.Dataset(data, coords={"period": index, **coords}).assign_coords(
            period_start=("period", [np.datetime64(k.period.start) for k in keys]),
            period_end=("period", [np.datetime64(k.period.end) for k in keys]),
        )

    def _lazy(self, key: PeriodKey, tile: Tile, name: str, dtype: str) -> da.Array:
        path = self._entry(key, tile) / f"{name}.npy"
        load = dask.delayed(np.load, pure=True, name=f"cache-{self.root.name}-{key.folder}-"
                            f"{tile.name}-{name}")
        return da.from_delayed(load(str(path), mmap_mode="r"), shape=tile.shape, dtype=dtype)


@dataclass(frozen=True)
class PruneSummary:
    """What :func:`prune` removed (or would remove) and what it kept."""

    removed: tuple[Path, ...]
    removed_bytes: int
    kept_bytes: int


#: Temporary folders (``.<name>.<hex>.tmp`` and the like) older than this belong to no live run.
STALE_TEMPORARY = timedelta(days=1)


def prune(root: Path, *, older_than: timedelta, dry_run: bool = False,
          now: datetime | None = None) -> PruneSummary:
    """Remove cache folders no run has used within ``older_than``.

    Parameters
    ----------
    root
        The cache folder, ``<outputs>/.cache/composites``.
    older_than
        A fingerprint folder (one set of settings over one AOI grid) or a period folder (one
        period's acquisitions) not used by any run for this long is removed.
    dry_run
        Only report what would be removed.

    Temporary folders left by killed runs are removed once they are a day old. A run in
    progress has marked what it uses, so pruning with ``older_than`` of hours or more does not
    take anything from under it.

    Examples
    --------
    >>> prune(Path("outputs/.cache/composites"), older_than=timedelta(days=180))  # doctest: +SKIP
    """
    now = now or datetime.now(UTC)
    doomed: list[Path] = []

    def old(path: Path, age: timedelta) -> bool:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC) < now - age

    def visit(folder: Path, depth: int) -> None:
        for child in sorted(p for p in folder.iterdir() if p.is_dir()):
            if child.name.startswith("."):
                if old(child, STALE_TEMPORARY):
                    doomed.append(child)
            elif depth < 2 and old(child, older_than):
                doomed.append(child)  # a fingerprint (depth 0) or a period (depth 1)
            elif depth < 2:
                visit(child, depth + 1)  # down to the tile entries' temporary folders

    if Path(root).is_dir():
        visit(Path(root), 0)
    removed_bytes = sum(_size(p) for p in doomed)
    kept_bytes = _size(Path(root)) - removed_bytes if Path(root).is_dir() else 0
    if not dry_run:
        for path in doomed:
            gone = path.with_name(f".{path.name.lstrip('.')}.{secrets.token_hex(4)}.deleting")
            os.rename(path, gone)  # vanishes at once for readers, then is deleted
            shutil.rmtree(gone, ignore_errors=True)
    return PruneSummary(tuple(doomed), removed_bytes, kept_bytes)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
