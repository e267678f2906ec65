"""The review store: one SQLite file holding site identities and every review decision.

Tables (all append-only: SQLite triggers refuse UPDATE and DELETE, so history cannot be lost):

``aois``
    One row per AOI: the projected CRS its footprints are kept in (the AOI's UTM zone).
``sites``
    One row per site key: AOI, how it arose (``new``, ``split``, ``merge``), when, in which run.
``lineage``
    Child key → parent key for splits and merges. A key with children is *retired*: new runs are
    matched against current (childless) keys only, and a child inherits its ancestors' decisions.
``footprints``
    The polygon (WKB, AOI CRS) of a key each time a run registered it, with the run's site id.
``decisions``
    Who set which status with which note, when, from where.

Every write is one transaction (``BEGIN IMMEDIATE``): a batch is recorded whole or not at all.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from geomon.errors import GeomonError
from geomon.review._decisions import STATUSES, Decision, SiteReview, latest_state, utc_now
from geomon.review._identity import match_sites, polygonal

__all__ = ["ReviewStore", "SiteIdentity"]

SCHEMA_VERSION = 1

_APPEND_ONLY = ("aois", "sites", "lineage", "footprints", "decisions")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS aois (aoi_id TEXT PRIMARY KEY, crs TEXT NOT NULL,
    recorded_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sites (
    site_key TEXT PRIMARY KEY,
    aoi_id TEXT NOT NULL REFERENCES aois(aoi_id),
    origin TEXT NOT NULL CHECK (origin IN ('new', 'split', 'merge')),
    created_run TEXT,
    recorded_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lineage (
    child_key TEXT NOT NULL REFERENCES sites(site_key),
    parent_key TEXT NOT NULL REFERENCES sites(site_key),
    kind TEXT NOT NULL CHECK (kind IN ('split', 'merge')),
    run_id TEXT,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (child_key, parent_key));
CREATE INDEX IF NOT EXISTS lineage_parent ON lineage(parent_key);
CREATE TABLE IF NOT EXISTS footprints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_key TEXT NOT NULL REFERENCES sites(site_key),
    aoi_id TEXT NOT NULL,
    run_id TEXT,
    site_id TEXT,
    kind TEXT NOT NULL,
    area_ha REAL NOT NULL,
    wkb BLOB NOT NULL,
    recorded_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS footprints_key ON footprints(site_key);
CREATE UNIQUE INDEX IF NOT EXISTS footprints_run_site ON footprints(aoi_id, run_id, site_id)
    WHERE run_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_key TEXT NOT NULL REFERENCES sites(site_key),
    status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
    reviewer TEXT NOT NULL CHECK (length(trim(reviewer)) > 0),
    note TEXT NOT NULL DEFAULT '',
    reviewed_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    source TEXT NOT NULL,
    run_id TEXT,
    site_id TEXT);
CREATE INDEX IF NOT EXISTS decisions_key ON decisions(site_key);
""" + "\n".join(
    f"CREATE TRIGGER IF NOT EXISTS {t}_no_{op} BEFORE {op.upper()} ON {t} "
    f"BEGIN SELECT RAISE(ABORT, 'the review store is append-only: {t} rows are never "
    f"{op}d'); END;"
    for t in _APPEND_ONLY for op in ("update", "delete")
)


@dataclass(frozen=True)
class SiteIdentity:
    """The key a registered site was given and why.

    Attributes
    ----------
    site_id
        The site's id in its run (e.g. ``sample-0003``).
    site_key
        Its stable key.
    kind
        ``same``, ``split``, ``merge`` or ``new`` (see :mod:`geomon.review._identity`).
    parents
        Keys it continues (its own key for ``same``; the retired keys for splits and merges).
    """

    site_id: str
    site_key: str
    kind: str
    parents: tuple[str, ...]


@dataclass(frozen=True)
class ReviewStore:
    """A review store file (created on first use).

    Parameters
    ----------
    path
        The SQLite file, e.g. ``outputs/review.sqlite``.
    """

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    # -- connections -------------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise GeomonError(f"cannot open the review store ({exc})", path=self.path) from None
        try:
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA journal_mode = WAL")
            self._ensure_schema(db)
            yield db
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.IntegrityError):
                raise
            raise GeomonError(f"review store error: {exc}", path=self.path) from None
        finally:
            db.close()

    def _ensure_schema(self, db: sqlite3.Connection) -> None:
        row = None
        has_meta = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
        if has_meta:
            row = db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        if row is not None:
            if int(row[0]) > SCHEMA_VERSION:
                raise GeomonError(
                    f"review store schema version {row[0]} is newer than this geomon knows",
                    path=self.path, expected=f"version {SCHEMA_VERSION} or older")
            return
        db.executescript(_SCHEMA)
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                   (str(SCHEMA_VERSION),))

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- identities --------------------------------------------------------------------------

    def aoi_crs(self, aoi_id: str) -> str | None:
        """The CRS footprints of ``aoi_id`` are kept in, or None for an AOI not seen yet."""
        with self._connect() as db:
            row = db.execute("SELECT crs FROM aois WHERE aoi_id = ?", (aoi_id,)).fetchone()
        return row[0] if row else None

    def aois(self) -> list[str]:
        """AOIs with sites in the store."""
        with self._connect() as db:
            return [r[0] for r in db.execute("SELECT aoi_id FROM aois ORDER BY aoi_id")]

    def register(
        self,
        aoi_id: str,
        crs: str,
        geometries: Sequence[BaseGeometry],
        site_ids: Sequence[str],
        *,
        run_id: str | None = None,
    ) -> list[SiteIdentity]:
        """Give each site of a run its stable key, matching it to the sites already known.

        Registering the same run (same ``run_id``) again returns the keys it got the first time;
        without a ``run_id``, matching by geometry makes a repeat registration give the same keys.

        Parameters
        ----------
        aoi_id, crs
            The AOI and the projected CRS of ``geometries``.
        geometries, site_ids
            The run's site polygons and their ids, in the same order.
        run_id
            The run they come from, if known.
        """
        if len(geometries) != len(site_ids):
            raise ValueError("one site id per geometry")
        now = utc_now()
        with self._write() as db:
            store_crs = self._aoi(db, aoi_id, crs, now)
            geoms = [polygonal(g) for g in _to_crs(list(geometries), crs, store_crs)]
            if run_id is not None:
                known = self._run_keys(db, aoi_id, run_id)
                if known:
                    missing = [s for s in site_ids if s not in known]
                    if missing:
                        raise GeomonError(
                            f"run {run_id} was registered before with other sites "
                            f"(not {', '.join(missing[:3])})", path=self.path, field="run_id")
                    return [known[s] for s in site_ids]
            live = self._live_footprints(db, aoi_id)
            matches = match_sites(geoms, live)
            taken = {r[0] for r in db.execute("SELECT site_key FROM sites")}
            out = []
            for m, geom, site_id in zip(matches, geoms, site_ids, strict=True):
                if m.kind == "same":
                    key = m.parents[0]
                    if run_id is None and live[key].equals_exact(geom, 1e-6):
                        out.append(SiteIdentity(site_id, key, m.kind, m.parents))
                        continue
                else:
                    key = _new_key(aoi_id, taken)
                    origin = "new" if m.kind == "new" else m.kind
                    db.execute("INSERT INTO sites VALUES (?, ?, ?, ?, ?)",
                               (key, aoi_id, origin, run_id, now))
                    for parent in m.parents:
                        db.execute("INSERT INTO lineage VALUES (?, ?, ?, ?, ?)",
                                   (key, parent, m.kind, run_id, now))
                db.execute(
                    "INSERT INTO footprints (site_key, aoi_id, run_id, site_id, kind, area_ha, wkb,"
                    " recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (key, aoi_id, run_id, site_id, m.kind, round(geom.area / 1e4, 4),
                     shapely.to_wkb(geom), now))
                out.append(SiteIdentity(site_id, key, m.kind, m.parents))
            return out

    def _aoi(self, db: sqlite3.Connection, aoi_id: str, crs: str, now: str) -> str:
        row = db.execute("SELECT crs FROM aois WHERE aoi_id = ?", (aoi_id,)).fetchone()
        if row:
            return row[0]
        if not CRS.from_user_input(crs).is_projected:
            raise GeomonError(f"site footprints must be in a projected CRS, not {crs}",
                              field="crs", expected="the AOI's UTM CRS")
        db.execute("INSERT INTO aois VALUES (?, ?, ?)", (aoi_id, crs, now))
        return crs

    def _run_keys(self, db: sqlite3.Connection, aoi_id: str, run_id: str
                  ) -> dict[str, SiteIdentity]:
        rows = db.execute(
            "SELECT f.site_id, f.site_key, f.kind FROM footprints f WHERE f.aoi_id = ? AND "
            "f.run_id = ? ORDER BY f.id", (aoi_id, run_id)).fetchall()
        parents = self._parents(db)
        out = {}
        for sid, key, kind in rows:
            ps = (key,) if kind == "same" else tuple(sorted(parents.get(key, ())))
            out[sid] = SiteIdentity(sid, key, kind, ps)
        return out

    def _live_footprints(self, db: sqlite3.Connection, aoi_id: str) -> dict[str, BaseGeometry]:
        rows = db.execute(
            "SELECT site_key, wkb FROM footprints WHERE id IN (SELECT max(id) FROM footprints "
            "WHERE aoi_id = ? GROUP BY site_key) AND site_key NOT IN "
            "(SELECT parent_key FROM lineage) ORDER BY site_key", (aoi_id,)).fetchall()
        return {key: shapely.from_wkb(wkb) for key, wkb in rows}

    def current_sites(self, aoi_id: str) -> dict[str, BaseGeometry]:
        """Latest footprint (AOI CRS) of every current, i.e. not split or merged, key."""
        with self._connect() as db:
            return self._live_footprints(db, aoi_id)

    def key_for(self, run_id: str, site_id: str) -> str | None:
        """The key a run's site was registered under, or None."""
        with self._connect() as db:
            row = db.execute("SELECT site_key FROM footprints WHERE run_id = ? AND site_id = ?",
                             (run_id, site_id)).fetchone()
        return row[0] if row else None

    def run_registered(self, run_id: str) -> bool:
        """Whether any site of run ``run_id`` was registered."""
        with self._connect() as db:
            return db.execute("SELECT 1 FROM footprints WHERE run_id = ? LIMIT 1",
                              (run_id,)).fetchone() is not None

    def key_aois(self, keys: Iterable[str]) -> dict[str, str]:
        """AOI of each known key (unknown keys are left out)."""
        keys = list(dict.fromkeys(keys))
        out: dict[str, str] = {}
        with self._connect() as db:
            for chunk in _chunks(keys):
                q = f"SELECT site_key, aoi_id FROM sites WHERE site_key IN ({_marks(chunk)})"
                out.update(dict(db.execute(q, chunk).fetchall()))
        return out

    def lineage(self, key: str) -> list[tuple[str, str]]:
        """``(parent_key, kind)`` for each key ``key`` was split or merged from."""
        with self._connect() as db:
            return [tuple(r) for r in db.execute(
                "SELECT parent_key, kind FROM lineage WHERE child_key = ? ORDER BY parent_key",
                (key,))]

    @staticmethod
    def _parents(db: sqlite3.Connection) -> dict[str, list[str]]:
        parents: dict[str, list[str]] = {}
        for child, parent in db.execute("SELECT child_key, parent_key FROM lineage"):
            parents.setdefault(child, []).append(parent)
        return parents

    # -- decisions ---------------------------------------------------------------------------

    def record(self, decisions: Sequence[Decision], *, source: str,
               run_id: str | None = None, site_ids: Sequence[str | None] | None = None
               ) -> list[Decision]:
        """Append decisions, all or none; return those recorded.

        A decision is skipped (not an error) when it repeats one already held exactly, or when
        it says what its reviewer's latest decision on that site already says (same status and
        note), so importing a file twice, or clicking a status twice, adds nothing.

        Raises
        ------
        GeomonError
            For an unknown key, status or an empty reviewer; nothing is recorded then.
        """
        site_ids = list(site_ids) if site_ids is not None else [None] * len(decisions)
        now = utc_now()
        recorded: list[Decision] = []
        with self._write() as db:
            keys = [d.site_key for d in decisions]
            known = set()
            for chunk in _chunks(list(dict.fromkeys(keys))):
                q = f"SELECT site_key FROM sites WHERE site_key IN ({_marks(chunk)})"
                known.update(r[0] for r in db.execute(q, chunk))
            parents = self._parents(db)
            for d in decisions:
                if d.site_key not in known:
                    raise GeomonError(f"unknown site_key {d.site_key!r}", path=self.path,
                                      field="site_key")
                if d.status not in STATUSES:
                    raise GeomonError(f"unknown status {d.status!r}", field="status",
                                      expected=" | ".join(STATUSES))
                if not d.reviewer.strip():
                    raise GeomonError("a decision needs a reviewer", field="reviewer")
            for d, site_id in zip(decisions, site_ids, strict=True):
                history = self._decisions(db, _ancestry(d.site_key, parents))
                if any((h.site_key, h.status, h.reviewer, h.note, h.reviewed_at) ==
                       (d.site_key, d.status, d.reviewer, d.note, d.reviewed_at)
                       for h in history):
                    continue
                state = latest_state(d.site_key, history)
                mine = [h for h in state.history if h.reviewer == d.reviewer]
                if mine and (mine[-1].status, mine[-1].note) == (d.status, d.note):
                    continue
                cur = db.execute(
                    "INSERT INTO decisions (site_key, status, reviewer, note, reviewed_at, "
                    "recorded_at, source, run_id, site_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (d.site_key, d.status, d.reviewer.strip(), d.note, d.reviewed_at, now,
                     source, run_id, site_id))
                recorded.append(Decision(d.site_key, d.status, d.reviewer.strip(), d.note,
                                         d.reviewed_at, now, source, int(cur.lastrowid)))
        return recorded

    @staticmethod
    def _decisions(db: sqlite3.Connection, keys: Sequence[str]) -> list[Decision]:
        out = []
        for chunk in _chunks(list(keys)):
            q = ("SELECT site_key, status, reviewer, note, reviewed_at, recorded_at, source, id "
                 f"FROM decisions WHERE site_key IN ({_marks(chunk)})")
            out.extend(Decision(*r) for r in db.execute(q, chunk))
        return out

    def states(self, keys: Iterable[str]) -> dict[str, SiteReview]:
        """Where the review of each key stands, its ancestors' decisions included."""
        keys = list(dict.fromkeys(keys))
        with self._connect() as db:
            parents = self._parents(db)
            family = {k: _ancestry(k, parents) for k in keys}
            every = sorted({a for fam in family.values() for a in fam})
            by_key: dict[str, list[Decision]] = {}
            for d in self._decisions(db, every):
                by_key.setdefault(d.site_key, []).append(d)
        return {k: latest_state(k, [d for a in family[k] for d in by_key.get(a, ())])
                for k in keys}

    def state(self, key: str) -> SiteReview:
        """Where the review of one key stands."""
        return self.states([key])[key]

    def count_decisions(self) -> int:
        """Number of decisions held (for checks and tests)."""
        with self._connect() as db:
            return int(db.execute("SELECT count(*) FROM decisions").fetchone()[0])

    def current_states(self, aoi_id: str) -> dict[str, tuple[BaseGeometry, SiteReview]]:
        """Latest footprint and review state of every current key of ``aoi_id``."""
        live = self.current_sites(aoi_id)
        states = self.states(live)
        return {k: (g, states[k]) for k, g in live.items()}


def _ancestry(key: str, parents: dict[str, list[str]]) -> list[str]:
    """``key`` and every key it descends from."""
    seen, todo = [key], [key]
    while todo:
        for p in parents.get(todo.pop(), ()):
            if p not in seen:
                seen.append(p)
                todo.append(p)
    return seen


def _new_key(aoi_id: str, taken: set[str]) -> str:
    while True:
        key = f"{aoi_id}-k{secrets.token_hex(4)}"
        if key not in taken:
            taken.add(key)
            return key


def _to_crs(geoms: list[BaseGeometry], src: str, dst: str) -> list[BaseGeometry]:
    if CRS.from_user_input(src) == CRS.from_user_input(dst):
        return geoms
    tr = Transformer.from_crs(src, dst, always_xy=True)

    def move(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))

    return [shapely.transform(g, move) for g in geoms]


def _chunks(items: list, size: int = 500) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _marks(chunk: list) -> str:
    return ", ".join("?" * len(chunk))
