"""The run index: every assessment run in ``<outputs>/runs.sqlite``, and run-to-run comparison.

The run folders (``<outputs>/<pipeline>/<run-id>/``, see :mod:`geomon.runs`) are the source of
truth; the index is a convenience for ``geomon history`` and can always be rebuilt from them with
:func:`index_from_folders`. Failed runs leave no folder, so the index is the only place they are
listed.

The index is one SQLite file in WAL mode (readers never block the writer; a scheduled run can
record while an analyst lists). Each record is written in one transaction, so a crash leaves
either the whole row or none of it. The schema version is SQLite's ``user_version``; a file from
a newer geomon is refused rather than misread.

Examples
--------
>>> record_finished("outputs", "outputs/seguela/20261128T121500Z-3f2a")  # doctest: +SKIP
>>> [r.run_id for r in list_runs("outputs", aoi="seguela")]              # doctest: +SKIP
['20261128T121500Z-3f2a']
"""

from __future__ import annotations

import csv
import json
import logging
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from geomon.errors import GeomonError

log = logging.getLogger(__name__)

__all__ = [
    "INDEX_FILE",
    "SCHEMA_VERSION",
    "STATUSES",
    "FinishedRun",
    "IndexSummary",
    "RunRecord",
    "compare_runs",
    "index_from_folders",
    "index_path",
    "list_runs",
    "read_finished_run",
    "record_failed",
    "record_finished",
    "record_run",
    "run_figures",
    "run_status",
]

INDEX_FILE = "runs.sqlite"
SCHEMA_VERSION = 1
STATUSES = ("success", "partial", "failed")
#: Site area changes smaller than this (ha) count as unchanged: one 10 m pixel is 0.01 ha.
AREA_TOLERANCE_HA = 0.005

_SCHEMA = """
CREATE TABLE runs (
    pipeline     TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    aoi          TEXT,
    status       TEXT NOT NULL CHECK (status IN ('success', 'partial', 'failed')),
    period_start TEXT,                -- first assessed day (ISO date)
    period_end   TEXT,                -- last assessed day
    periods      TEXT NOT NULL,       -- JSON list of assessed period labels
    started      TEXT,                -- run start, ISO 8601 UTC
    finished     TEXT,
    n_sites      INTEGER,
    new_ha       REAL,                -- new digging over all assessed periods, ha
    figures      TEXT NOT NULL,       -- JSON: per-period areas, estimate P50s, ...
    run_dir      TEXT NOT NULL,       -- relative to the outputs folder when inside it
    recorded     TEXT NOT NULL,
    PRIMARY KEY (pipeline, run_id)
);
CREATE INDEX runs_by_started ON runs (started);
CREATE INDEX runs_by_aoi ON runs (aoi, started);
"""
#: Statements that take schema version ``i`` to ``i + 1``.
_MIGRATIONS: tuple[str, ...] = (_SCHEMA,)


# -- the index file -----------------------------------------------------------------------------

def index_path(outputs_root: str | Path) -> Path:
    """``<outputs_root>/runs.sqlite``."""
    return Path(outputs_root) / INDEX_FILE


@contextmanager
def _connect(outputs_root: str | Path) -> Iterator[sqlite3.Connection]:
    """An open, migrated index (created on first use); closed afterwards."""
    path = index_path(outputs_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    except sqlite3.Error as exc:
        raise GeomonError(f"cannot open the run index ({exc})", path=path) from None
    with closing(conn):
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            _migrate(conn, path)
        except sqlite3.DatabaseError as exc:
            raise GeomonError(
                f"the run index is unreadable ({exc}); move it away and run "
                "'geomon history --rebuild' to rebuild it from the run folders", path=path,
            ) from None
        yield conn


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``; rolled back on any error, so no half-written rows."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise GeomonError(f"the run index has schema version {version}, newer than this geomon "
                          f"understands ({SCHEMA_VERSION}); upgrade geomon", path=path)
    if version == SCHEMA_VERSION:
        return
    with _transaction(conn):
        # re-read inside the write lock: another process may have migrated meanwhile
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for step in range(version, SCHEMA_VERSION):
            for statement in filter(str.strip, _MIGRATIONS[step].split(";")):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {step + 1}")


# -- records ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunRecord:
    """One run as the index lists it.

    Attributes
    ----------
    pipeline, run_id, aoi
        What ran, over which area.
    status
        ``success``, ``partial`` (some assessed periods degraded: too few clear observations or
        unreadable assets) or ``failed`` (no run folder).
    periods
        Assessed period labels, in order.
    period_start, period_end
        First and last assessed day (ISO dates).
    started, finished
        Run start and end (ISO 8601, UTC).
    n_sites
        Digging sites in ``detections.geojson``.
    new_ha
        New digging over all assessed periods, ha.
    figures
        Everything else (see :func:`run_figures`), plus ``error`` for a failed run.
    run_dir
        The run folder (absolute).
    """

    pipeline: str
    run_id: str
    aoi: str | None
    status: str
    periods: tuple[str, ...]
    period_start: str | None
    period_end: str | None
    started: str | None
    finished: str | None
    n_sites: int | None
    new_ha: float | None
    figures: Mapping[str, Any] = field(default_factory=dict)
    run_dir: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        d = asdict(self)
        d["periods"] = list(self.periods)
        d["figures"] = dict(self.figures)
        return d


@dataclass(frozen=True)
class IndexSummary:
    """What :func:`index_from_folders` did."""

    recorded: int
    removed: int
    skipped: tuple[tuple[str, str], ...] = ()


def record_run(outputs_root: str | Path, run_dir: str | Path, manifest: Mapping[str, Any], *,
               status: str, figures: Mapping[str, Any]) -> RunRecord:
    """Add a run to the index (or replace its earlier record), in one transaction.

    Parameters
    ----------
    outputs_root
        The outputs folder; the index is ``<outputs_root>/runs.sqlite``.
    run_dir
        The run folder (for a failed run: where it would have been).
    manifest
        The run's ``manifest.json`` content; for a failed run at least ``pipeline``, ``run_id``,
        ``aoi`` and ``started``.
    status
        ``success``, ``partial`` or ``failed``.
    figures
        Headline figures (:func:`run_figures` of the run folder; may be empty for a failed run).

    Returns
    -------
    RunRecord
        The record as stored.
    """
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    root = Path(outputs_root).resolve()
    params = manifest.get("parameters") or {}
    aoi = manifest.get("aoi")
    figures = dict(figures)
    periods = list(figures.get("new_ha", {})) or [
        p["period"] for p in manifest.get("periods", [])
        if params.get("start") is None or str(p.get("start", "")) >= str(params["start"])]
    new = figures.get("new_ha") or {}
    rec = RunRecord(
        pipeline=str(manifest.get("pipeline") or params.get("name") or "?"),
        run_id=str(manifest.get("run_id") or Path(run_dir).name),
        aoi=str(aoi.get("id")) if isinstance(aoi, Mapping) else (None if aoi is None
                                                                 else str(aoi)),
        status=status,
        periods=tuple(periods),
        period_start=_opt_str(params.get("start")),
        period_end=_opt_str(params.get("end")),
        started=_opt_str(manifest.get("started")),
        finished=_opt_str(manifest.get("finished")),
        n_sites=figures.get("n_sites"),
        new_ha=round(sum(new.values()), 4) if new else None,
        figures=figures,
        run_dir=str(Path(run_dir).resolve()),
    )
    with _connect(root) as conn, _transaction(conn):
        conn.execute(
            "INSERT OR REPLACE INTO runs (pipeline, run_id, aoi, status, period_start, "
            "period_end, periods, started, finished, n_sites, new_ha, figures, run_dir, "
            "recorded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (rec.pipeline, rec.run_id, rec.aoi, rec.status, rec.period_start, rec.period_end,
             json.dumps(list(rec.periods)), rec.started, rec.finished, rec.n_sites, rec.new_ha,
             json.dumps(figures, default=str), _stored_dir(Path(rec.run_dir), root),
             datetime.now(UTC).isoformat()),
        )
    return rec


def record_finished(outputs_root: str | Path, run_dir: str | Path, *,
                    status: str | None = None) -> RunRecord | None:
    """Index a finished run folder from its own files; never fails the run.

    ``status`` defaults to :func:`run_status` of its manifest. An index that cannot be written
    (locked, read-only, corrupt) is logged as a warning and None returned: the run folder is
    complete without it, and :func:`index_from_folders` recovers it later.
    """
    try:
        run = read_finished_run(run_dir)
        return record_run(outputs_root, run.path, run.manifest, status=status or run_status(
            run.manifest), figures=run_figures(run))
    except (GeomonError, sqlite3.Error, OSError) as exc:
        log.warning("run %s was not added to the run index: %s", run_dir, exc)
        return None


def record_failed(outputs_root: str | Path, *, pipeline: str, run_id: str, aoi: str | None,
                  started: datetime | str | None, error: BaseException | str) -> RunRecord | None:
    """Index a run that failed (it has no folder); never raises.

    The error text is stored with secrets redacted (:func:`geomon.logs.redact_secrets`).
    """
    from geomon.logs import redact_secrets

    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    manifest = {"pipeline": pipeline, "run_id": run_id, "aoi": aoi,
                "started": started.isoformat() if isinstance(started, datetime) else started,
                "finished": datetime.now(UTC).isoformat()}
    try:
        return record_run(outputs_root, Path(outputs_root) / pipeline / run_id, manifest,
                          status="failed", figures={"error": redact_secrets(text)[:2000]})
    except (GeomonError, sqlite3.Error, OSError) as exc:
        log.warning("failed run %s was not added to the run index: %s", run_id, exc)
        return None


def list_runs(outputs_root: str | Path, *, pipeline: str | None = None, aoi: str | None = None,
              status: str | None = None, limit: int | None = 50) -> list[RunRecord]:
    """Indexed runs, newest first, optionally of one pipeline, AOI or status.

    ``limit`` None lists all.
    """
    root = Path(outputs_root).resolve()
    where, args = [], []
    for column, value in (("pipeline", pipeline), ("aoi", aoi), ("status", status)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    sql = "SELECT * FROM runs" + (f" WHERE {' AND '.join(where)}" if where else "")
    sql += " ORDER BY started DESC, run_id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(int(limit))
    with _connect(root) as conn:
        rows = conn.execute(sql, args).fetchall()
    return [_record(row, root) for row in rows]


def index_from_folders(outputs_root: str | Path) -> IndexSummary:
    """Rebuild the index from the run folders under ``outputs_root``.

    Every finished run folder (``<outputs_root>/<pipeline>/<run-id>/`` with a manifest) is
    recorded again; records of successful or partial runs whose folder is gone are removed.
    Failed runs (which have no folder) are kept. Folders that are not runs are skipped and
    listed in the summary.
    """
    root = Path(outputs_root).resolve()
    if not root.is_dir():
        raise GeomonError("outputs folder does not exist", path=root)
    recorded, skipped = 0, []
    for manifest in sorted(root.glob("*/*/manifest.json")):
        folder = manifest.parent
        if folder.name.startswith(".") or folder.parent.name.startswith("."):
            continue
        try:
            run = read_finished_run(folder)
            record_run(root, run.path, run.manifest, status=run_status(run.manifest),
                       figures=run_figures(run))
            recorded += 1
        except GeomonError as exc:
            skipped.append((str(folder), exc.message))
    removed = 0
    with _connect(root) as conn, _transaction(conn):
        for row in conn.execute("SELECT pipeline, run_id, run_dir FROM runs "
                                "WHERE status != 'failed'").fetchall():
            if not (root / row["run_dir"]).joinpath("manifest.json").is_file():
                conn.execute("DELETE FROM runs WHERE pipeline = ? AND run_id = ?",
                             (row["pipeline"], row["run_id"]))
                removed += 1
    log.info("run index rebuilt: %d runs recorded, %d stale records removed, %d folders skipped",
             recorded, removed, len(skipped))
    return IndexSummary(recorded=recorded, removed=removed, skipped=tuple(skipped))


def _record(row: sqlite3.Row, root: Path) -> RunRecord:
    return RunRecord(
        pipeline=row["pipeline"], run_id=row["run_id"], aoi=row["aoi"], status=row["status"],
        periods=tuple(json.loads(row["periods"])), period_start=row["period_start"],
        period_end=row["period_end"], started=row["started"], finished=row["finished"],
        n_sites=row["n_sites"], new_ha=row["new_ha"], figures=json.loads(row["figures"]),
        run_dir=str(root / row["run_dir"]),
    )


def _stored_dir(run_dir: Path, root: Path) -> str:
    try:
        return str(run_dir.relative_to(root))
    except ValueError:
        return str(run_dir)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


# -- reading a finished run folder ---------------------------------------------------------------

@dataclass(frozen=True)
class FinishedRun:
    """A run folder that passed :func:`read_finished_run`, with its parsed manifest."""

    path: Path
    manifest: dict[str, Any]

    def __truediv__(self, name: str) -> Path:
        return self.path / name


def read_finished_run(run_dir: str | Path) -> FinishedRun:
    """Check that ``run_dir`` is a finished run folder and read its manifest.

    Raises
    ------
    GeomonError
        Naming the path: missing, not a folder, a run still being written (``.<id>.partial``),
        or without a readable ``manifest.json``.
    """
    path = Path(run_dir)
    expected = "a finished run folder <outputs>/<pipeline>/<run-id>/ with manifest.json"
    if not path.exists():
        raise GeomonError("run folder does not exist", path=path, expected=expected)
    if not path.is_dir():
        raise GeomonError("not a folder", path=path, expected=expected)
    if path.name.startswith(".") or path.name.endswith(".partial"):
        raise GeomonError("run is still being written, or was abandoned", path=path,
                          expected=expected)
    manifest_file = path / "manifest.json"
    if not manifest_file.is_file():
        raise GeomonError("not a finished run: no manifest.json", path=path, expected=expected)
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GeomonError(f"manifest.json is not valid JSON ({exc})", path=manifest_file) from None
    if not isinstance(manifest, dict) or "run_id" not in manifest:
        raise GeomonError("manifest.json has no run_id", path=manifest_file)
    return FinishedRun(path.resolve(), manifest)


def run_status(manifest: Mapping[str, Any]) -> str:
    """``success``, or ``partial`` when an assessed period is degraded (baseline ones don't count).

    A ``status`` the manifest itself records wins.
    """
    if manifest.get("status") in STATUSES:
        return str(manifest["status"])
    start = str((manifest.get("parameters") or {}).get("start") or "")
    degraded = [p for p in manifest.get("periods", [])
                if p.get("degraded") and str(p.get("start", "")) >= start]
    return "partial" if degraded else "success"


def run_figures(run_dir: str | Path | FinishedRun) -> dict[str, Any]:
    """Headline figures of a finished run folder, for the index and reports.

    Returns
    -------
    dict
        ``n_sites``; ``new_ha``, ``active_ha``, ``cumulative_ha`` (period label → ha, from
        ``areas.csv``); ``degraded_periods``; and when ``estimate.json`` exists,
        ``estimate_p50`` (method → period → carats) and ``estimate_p50_year`` (method → year →
        carats).
    """
    if isinstance(run_dir, FinishedRun):
        path, manifest = run_dir.path, run_dir.manifest
    else:
        path = Path(run_dir)
        manifest = _json(path / "manifest.json") or {}
    out: dict[str, Any] = {}
    rows = _areas(path)
    for key in ("new_ha", "active_ha", "cumulative_ha"):
        out[key] = {r["period"]: r[key] for r in rows}
    out["n_sites"] = len(_features(path / "detections.geojson"))
    start = str((manifest.get("parameters") or {}).get("start") or "")
    out["degraded_periods"] = [p["period"] for p in manifest.get("periods", [])
                               if p.get("degraded") and str(p.get("start", "")) >= start]
    est = _json(path / "estimate.json")
    if est:
        by_period: dict[str, dict[str, float]] = {}
        for p in est.get("periods", []):
            by_period.setdefault(p["method"], {})[p["period"]] = p.get("p50")
        by_year: dict[str, dict[str, float]] = {}
        for y in est.get("years", []):
            by_year.setdefault(y["method"], {})[str(y["year"])] = y.get("p50")
        out["estimate_p50"] = by_period
        out["estimate_p50_year"] = by_year
    return out


def _areas(path: Path) -> list[dict[str, Any]]:
    file = path / "areas.csv"
    if not file.is_file():
        return []
    try:
        with open(file, newline="", encoding="utf-8") as f:
            return [{"period": r["period"], "start": r.get("start"), "end": r.get("end"),
                     **{k: float(r[k]) for k in ("new_ha", "active_ha", "cumulative_ha")}}
                    for r in csv.DictReader(f)]
    except (KeyError, ValueError) as exc:
        raise GeomonError(f"areas.csv is malformed ({exc})", path=file) from None


def _features(file: Path) -> list[dict[str, Any]]:
    doc = _json(file)
    return list(doc.get("features", [])) if doc else []


def _json(file: Path) -> Any:
    if not file.is_file():
        return None
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise GeomonError(f"not valid JSON ({exc.msg})", path=file) from None


# -- comparing two runs -------------------------------------------------------------------------

def compare_runs(run_a: str | Path, run_b: str | Path, *,
                 area_tolerance_ha: float = AREA_TOLERANCE_HA) -> dict[str, Any]:
    """What changed from finished run ``run_a`` to finished run ``run_b``.

    Parameters
    ----------
    run_a, run_b
        Run folders (the older first, usually).
    area_tolerance_ha
        Matched sites whose area differs by less than this are unchanged.

    Returns
    -------
    dict
        ``a``/``b``: which runs; ``parameters``: ``[{"key", "a", "b"}]`` for every pipeline
        parameter that differs (dotted keys; absent is None); ``software``: differing versions;
        ``pipeline_file_changed``; ``items``: imagery used by each and how many items only one
        used; ``areas``: per period (union of both) new/active/cumulative ha in each and their
        differences; ``sites``: ``added``, ``removed``, ``changed`` (matched by overlap, area or
        status differs), ``merged`` (a site of A now inside a larger site of B), ``split`` (a
        site of B inside a site of A that matched another), ``unchanged`` count; ``estimate``:
        P50 per period and method, and per year, in each and the difference (when both runs
        have ``estimate.json``).

    Raises
    ------
    GeomonError
        Either folder is not a finished run (the message names it).
    """
    a, b = read_finished_run(run_a), read_finished_run(run_b)
    ma, mb = a.manifest, b.manifest
    return {
        "a": _identity(a), "b": _identity(b),
        "same_aoi": _aoi_id(ma) == _aoi_id(mb),
        "parameters": _diff(_flatten(ma.get("parameters") or {}),
                            _flatten(mb.get("parameters") or {})),
        "software": [{"package": d["key"], "a": d["a"], "b": d["b"]}
                     for d in _diff(ma.get("software") or {}, mb.get("software") or {})],
        "pipeline_file_changed": ma.get("pipeline_sha256") != mb.get("pipeline_sha256"),
        "items": _items(ma, mb),
        "areas": _compare_areas(_areas(a.path), _areas(b.path)),
        "sites": _compare_sites(a, b, area_tolerance_ha),
        "estimate": _compare_estimates(_json(a / "estimate.json"), _json(b / "estimate.json")),
    }


def _identity(run: FinishedRun) -> dict[str, Any]:
    m = run.manifest
    return {"run_dir": str(run.path), "pipeline": m.get("pipeline"), "run_id": m.get("run_id"),
            "aoi": _aoi_id(m), "started": m.get("started"), "status": run_status(m)}


def _aoi_id(manifest: Mapping[str, Any]) -> str | None:
    aoi = manifest.get("aoi")
    return aoi.get("id") if isinstance(aoi, Mapping) else aoi


def _flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in doc.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "a": a.get(k), "b": b.get(k)} for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)]


def _items(ma: Mapping[str, Any], mb: Mapping[str, Any]) -> dict[str, int]:
    def ids(m: Mapping[str, Any]) -> set[str]:
        return {i["id"] for p in m.get("periods", []) for i in p.get("items", []) if "id" in i}

    ia, ib = ids(ma), ids(mb)
    return {"a": len(ia), "b": len(ib), "only_in_a": len(ia - ib), "only_in_b": len(ib - ia)}


def _compare_areas(rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]]
                   ) -> list[dict[str, Any]]:
    by_a, by_b = {r["period"]: r for r in rows_a}, {r["period"]: r for r in rows_b}
    out = []
    for period in sorted(set(by_a) | set(by_b)):
        ra, rb = by_a.get(period), by_b.get(period)
        row: dict[str, Any] = {"period": period}
        for key in ("new_ha", "active_ha", "cumulative_ha"):
            va, vb = (ra or {}).get(key), (rb or {}).get(key)
            row[f"{key}_a"], row[f"{key}_b"] = va, vb
            row[f"{key}_delta"] = None if va is None or vb is None else round(vb - va, 4)
        out.append(row)
    return out


def _sites(run: FinishedRun, crs: str | None) -> tuple[list[dict[str, Any]], list[Any]]:
    """Properties and geometries (in ``crs``, default lon/lat) of a run's digging sites."""
    import shapely
    from shapely.geometry import shape

    feats = _features(run / "detections.geojson")
    props = [dict(f.get("properties") or {}) for f in feats]
    geoms = [shape(f["geometry"]) if f.get("geometry") else shapely.Polygon() for f in feats]
    if crs is not None and geoms:
        from pyproj import Transformer

        to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        geoms = [shapely.transform(g, lambda xy: np.column_stack(to_utm.transform(
            xy[:, 0], xy[:, 1]))) for g in geoms]
    return props, list(shapely.make_valid(np.asarray(geoms, dtype=object))) if geoms else []


def _compare_sites(a: FinishedRun, b: FinishedRun, tolerance: float) -> dict[str, Any]:
    import shapely

    # overlap areas in metres, on the AOI's UTM grid (where area_ha was computed)
    crs = (a.manifest.get("aoi") or {}).get("crs") or (b.manifest.get("aoi") or {}).get("crs")
    pa, geoms_a = _sites(a, crs)
    pb, geoms_b = _sites(b, crs)

    overlaps: list[tuple[float, int, int]] = []
    if geoms_a and geoms_b:
        tree = shapely.STRtree(geoms_b)
        ia, ib = tree.query(geoms_a, predicate="intersects")
        for i, j in zip(ia.tolist(), ib.tolist(), strict=True):
            area = float(shapely.area(shapely.intersection(geoms_a[i], geoms_b[j])))
            if area > (1.0 if crs else 1e-10):  # sharing only an edge is not overlapping
                overlaps.append((area, i, j))
    overlaps.sort(reverse=True)
    match_a: dict[int, int] = {}
    match_b: dict[int, int] = {}
    for _area, i, j in overlaps:
        if i not in match_a and j not in match_b:
            match_a[i], match_b[j] = j, i
    touched_a = {i for _, i, _ in overlaps}
    touched_b = {j for _, _, j in overlaps}
    overlap_of = {(i, j): area for area, i, j in overlaps}

    def site(p: dict[str, Any]) -> dict[str, Any]:
        return {"id": p.get("id"), "area_ha": _num(p.get("area_ha")), "status": p.get("status"),
                "first_seen": p.get("first_seen")}

    changed, unchanged = [], 0
    for i, j in sorted(match_a.items()):
        sa, sb = site(pa[i]), site(pb[j])
        delta = round((sb["area_ha"] or 0.0) - (sa["area_ha"] or 0.0), 4)
        if abs(delta) >= tolerance or sa["status"] != sb["status"]:
            changed.append({"a_id": sa["id"], "b_id": sb["id"], "a_area_ha": sa["area_ha"],
                            "b_area_ha": sb["area_ha"], "delta_ha": delta,
                            "overlap_ha": round(overlap_of[(i, j)] / 1e4, 4) if crs else None,
                            "a_status": sa["status"], "b_status": sb["status"]})
        else:
            unchanged += 1
    return {
        "a_total": len(pa), "b_total": len(pb),
        "added": [site(pb[j]) for j in range(len(pb)) if j not in touched_b],
        "removed": [site(pa[i]) for i in range(len(pa)) if i not in touched_a],
        "changed": changed,
        "merged": [site(pa[i]) for i in sorted(touched_a - set(match_a))],
        "split": [site(pb[j]) for j in sorted(touched_b - set(match_b))],
        "unchanged": unchanged,
    }


def _num(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _compare_estimates(ea: Any, eb: Any) -> dict[str, Any]:
    available = {(True, True): "both", (True, False): "a", (False, True): "b",
                 (False, False): "neither"}[(bool(ea), bool(eb))]
    out: dict[str, Any] = {"available": available, "periods": [], "years": []}
    if available != "both":
        return out
    for part, key in (("periods", "period"), ("years", "year")):
        pa = {(str(r[key]), r["method"]): r.get("p50") for r in ea.get(part, [])}
        pb = {(str(r[key]), r["method"]): r.get("p50") for r in eb.get(part, [])}
        for k in sorted(set(pa) | set(pb)):
            va, vb = pa.get(k), pb.get(k)
            out[part].append({key: k[0], "method": k[1], "p50_a": va, "p50_b": vb,
                              "delta": None if va is None or vb is None else round(vb - va, 3)})
    return out
