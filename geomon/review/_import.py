"""Importing decisions made outside the app: an edited GeoPackage, or the page's JSON export.

Everything in a file is checked before anything is written, and the whole file is recorded in one
transaction: a file with one bad row changes nothing.

GeoPackage (or any vector file with the package's columns, e.g. ``sites.geojson``)
    A row is a decision when its ``review_status``, ``reviewer`` or ``note`` differs from what the
    package exported (the ``exported`` layer of ``sites.gpkg``; for other files, what the store
    holds now). Its reviewer is the ``reviewer`` column when that was changed, else the
    ``--reviewer`` given to the import; a changed row still showing the exported reviewer, or
    none, is an error (a decision is never attributed to someone by accident). Its time is the
    ``reviewed_at`` column when that was changed, else the time of the import. Statuses are read
    case-insensitively, with spaces as underscores (``Needs field visit``).
Page JSON (``format: geomon-review-decisions``)
    Every entry is a decision: ``site_key``, ``status``, ``reviewer``, ``reviewed_at``, optional
    ``note`` and ``site_id``.

Decisions that repeat one the store holds, or that say what the reviewer's latest decision on
the site already says, are skipped, so importing a file twice records nothing the second time.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyogrio

from geomon.errors import GeomonError
from geomon.review._decisions import STATUSES, Decision, parse_time, utc_now
from geomon.review._store import ReviewStore

__all__ = ["DECISIONS_FORMAT", "ImportResult", "import_decisions"]

DECISIONS_FORMAT = "geomon-review-decisions"
_REQUIRED_COLUMNS = ("id", "site_key", "aoi", "run_id", "review_status", "reviewer", "note",
                     "reviewed_at")


@dataclass(frozen=True)
class ImportResult:
    """What an import did.

    Attributes
    ----------
    path, aoi_id
        The file and the AOI it is for.
    rows
        Sites (or entries) in the file.
    recorded
        Decisions added to the store.
    unchanged
        Rows left as exported, or decisions the store already had.
    """

    path: Path
    aoi_id: str
    rows: int
    recorded: int
    unchanged: int


@dataclass(frozen=True)
class _Row:
    where: str  # e.g. "sites[3]" for messages
    aoi: str
    run_id: str
    site_id: str
    site_key: str
    status: str
    reviewer: str
    note: str
    reviewed_at: str


def import_decisions(
    path: str | Path,
    *,
    store: str | Path,
    reviewer: str | None = None,
    aoi: str | None = None,
) -> ImportResult:
    """Check a file of decisions and record it whole in the review store.

    Parameters
    ----------
    path
        An edited ``sites.gpkg`` (or another vector file with its columns) or a page JSON export.
    store
        The review store.
    reviewer
        Who made the changed rows of a GeoPackage whose ``reviewer`` column was left as exported,
        and of JSON entries without a reviewer.
    aoi
        If given, the AOI the file must be for.

    Raises
    ------
    GeomonError
        Naming the file and field, for an unreadable file, another AOI, an unknown site id or
        key, an unknown status, a missing reviewer or a bad time. Nothing is recorded then.
    """
    path = Path(path)
    if not path.exists():
        raise GeomonError("no such file", path=path)
    st = ReviewStore(Path(store))
    if not Path(store).exists():
        raise GeomonError("no review store here: export a package first", path=store)
    default = reviewer.strip() if reviewer and reviewer.strip() else None
    if path.suffix.lower() == ".json" and _is_page_json(path):
        rows, file_aoi, changed, unchanged = _page_json(path, default)
    else:
        rows, file_aoi, changed, unchanged = _vector(path, st, default)
    if aoi is not None and file_aoi != aoi:
        raise GeomonError(f"file is for AOI {file_aoi!r}, not {aoi!r}", path=path, field="aoi")
    keys = _check_identity(path, st, file_aoi, rows)
    decisions = [Decision(keys[r.where], r.status, r.reviewer, r.note, r.reviewed_at)
                 for r in changed]
    run_ids = {r.run_id for r in changed} or {""}
    recorded = st.record(decisions, source=f"import:{path.name}",
                         run_id=next(iter(run_ids)) if len(run_ids) == 1 else None,
                         site_ids=[r.site_id or None for r in changed])
    return ImportResult(path=path, aoi_id=file_aoi, rows=len(rows), recorded=len(recorded),
                        unchanged=unchanged + len(changed) - len(recorded))


# -- reading ---------------------------------------------------------------------------------


def _is_page_json(path: Path) -> bool:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GeomonError(f"not valid JSON ({exc})", path=path) from None
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        return False
    if not isinstance(doc, dict) or doc.get("format") != DECISIONS_FORMAT:
        raise GeomonError("not a decisions file exported from the review page", path=path,
                          field="format", expected=f"'{DECISIONS_FORMAT}'")
    return True


def _page_json(path: Path, default: str | None) -> tuple[list[_Row], str, list[_Row], int]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    file_aoi = doc.get("aoi")
    if not isinstance(file_aoi, str) or not file_aoi:
        raise GeomonError("missing the AOI id", path=path, field="aoi")
    entries = doc.get("decisions")
    if not isinstance(entries, list):
        raise GeomonError("missing the list of decisions", path=path, field="decisions",
                          expected="a list")
    run_id = str(doc.get("run_id") or "")
    rows = []
    for i, e in enumerate(entries):
        where = f"decisions[{i}]"
        if not isinstance(e, dict):
            raise GeomonError("expected an object", path=path, field=where)
        status = e.get("status")
        if status not in STATUSES:
            raise GeomonError(f"unknown status {status!r}", path=path, field=f"{where}.status",
                              expected=" | ".join(STATUSES))
        who = _text(e.get("reviewer")) or default
        if not who:
            raise GeomonError("no reviewer (or pass --reviewer)", path=path,
                              field=f"{where}.reviewer")
        when = e.get("reviewed_at")
        reviewed_at = (parse_time(when, path=path, field=f"{where}.reviewed_at")
                       if _text(when) else utc_now())
        note = e.get("note") or ""
        if not isinstance(note, str):
            raise GeomonError("expected text", path=path, field=f"{where}.note")
        rows.append(_Row(where, file_aoi, run_id, _text(e.get("site_id")),
                         _text(e.get("site_key")), status, who, note.strip(), reviewed_at))
    return rows, file_aoi, rows, 0


def _vector(path: Path, st: ReviewStore, default: str | None
            ) -> tuple[list[_Row], str, list[_Row], int]:
    try:
        layers = [name for name, _ in pyogrio.list_layers(path)]
        layer = "sites" if "sites" in layers else layers[0]
        table = pyogrio.read_dataframe(path, layer=layer, read_geometry=False)
        exported = (pyogrio.read_dataframe(path, layer="exported", read_geometry=False)
                    if "exported" in layers else None)
    except Exception as exc:  # pyogrio raises several error types for unreadable files
        raise GeomonError(f"cannot read as a GeoPackage or vector file ({exc})",
                          path=path) from None
    for col in _REQUIRED_COLUMNS:
        if col not in table.columns:
            raise GeomonError("missing column", path=path, field=f"{layer}.{col}",
                              expected="the columns of a review package's sites.gpkg")
    if not len(table):
        raise GeomonError("no sites in the file", path=path, field=layer)
    records = [{k: _text(v) for k, v in r.items()} for r in table.to_dict("records")]
    file_aoi = records[0]["aoi"]
    for i, r in enumerate(records):
        if r["aoi"] != file_aoi:
            raise GeomonError(f"site {r['id']} is of AOI {r['aoi']!r}, not {file_aoi!r} like "
                              "the first row", path=path, field=f"{layer}[{i}].aoi")
    if exported is not None:
        base = {_text(r["site_key"]): {k: _text(v) for k, v in r.items()}
                for r in exported.to_dict("records")}
    else:
        keys = [r["site_key"] for r in records if r["site_key"]]
        known = st.key_aois(keys)
        states = st.states(k for k in keys if k in known)
        base = {k: {"review_status": s.status, "reviewer": s.reviewer, "note": s.note,
                    "reviewed_at": s.reviewed_at or ""} for k, s in states.items()}
    rows, changed, unchanged = [], [], 0
    for i, r in enumerate(records):
        where = f"{layer}[{i}]"
        status = r["review_status"].lower().replace(" ", "_") or "pending"
        row = _Row(where, r["aoi"], r["run_id"], r["id"], r["site_key"], status,
                   r["reviewer"], r["note"], r["reviewed_at"])
        rows.append(row)
        before = base.get(r["site_key"], {"review_status": "pending", "reviewer": "",
                                          "note": "", "reviewed_at": ""})
        was = (before["review_status"], before["reviewer"], before["note"])
        if (status, r["reviewer"], r["note"]) == was:
            unchanged += 1
            continue
        changed.append(_changed(path, row, before, default))
    return rows, file_aoi, changed, unchanged


def _changed(path: Path, row: _Row, before: dict[str, str], default: str | None) -> _Row:
    what = f"site {row.site_id or row.site_key}"
    if row.status not in STATUSES:
        hint = " (choose one for a site in conflict)" if row.status == "conflict" else ""
        raise GeomonError(f"unknown status {row.status!r} for {what}{hint}", path=path,
                          field=f"{row.where}.review_status", expected=" | ".join(STATUSES))
    if row.reviewer and row.reviewer != before["reviewer"]:
        who = row.reviewer
    elif default:
        who = default
    elif row.reviewer:
        raise GeomonError(
            f"{what} was changed but its reviewer is still {row.reviewer!r} as exported: put "
            "your name in reviewer, or pass --reviewer", path=path, field=f"{row.where}.reviewer")
    else:
        raise GeomonError(f"{what} was changed but has no reviewer (or pass --reviewer)",
                          path=path, field=f"{row.where}.reviewer")
    if row.reviewed_at and row.reviewed_at != before["reviewed_at"]:
        when = parse_time(row.reviewed_at, path=path, field=f"{row.where}.reviewed_at")
    else:
        when = utc_now()
    return _Row(row.where, row.aoi, row.run_id, row.site_id, row.site_key, row.status, who,
                row.note, when)


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v).strip()


# -- checking --------------------------------------------------------------------------------


def _check_identity(path: Path, st: ReviewStore, file_aoi: str, rows: list[_Row]
                    ) -> dict[str, str]:
    """Check every row names a site the store knows, of the file's AOI; its key by row."""
    if file_aoi not in st.aois():
        raise GeomonError(f"AOI {file_aoi!r} has no sites in the review store {st.path} (is "
                          "this file from another AOI or another store?)", path=path,
                          field="aoi")
    aois = st.key_aois(r.site_key for r in rows if r.site_key)
    registered = {run: st.run_registered(run) for run in {r.run_id for r in rows if r.run_id}}
    keys = {}
    for r in rows:
        by_id = st.key_for(r.run_id, r.site_id) if r.site_id and r.run_id else None
        if r.site_id and by_id is None and registered.get(r.run_id):
            raise GeomonError(f"unknown site id {r.site_id!r} in run {r.run_id}", path=path,
                              field=f"{r.where}.id")
        if not r.site_key:
            if by_id is None:
                raise GeomonError(f"unknown site id {r.site_id!r} (no site_key, and run "
                                  f"{r.run_id or '?'} is not in the store)", path=path,
                                  field=f"{r.where}.id")
            keys[r.where] = by_id
            continue
        if r.site_key not in aois:
            raise GeomonError(f"unknown site_key {r.site_key!r}", path=path,
                              field=f"{r.where}.site_key")
        if aois[r.site_key] != file_aoi:
            raise GeomonError(
                f"site_key {r.site_key!r} belongs to AOI {aois[r.site_key]!r}, not "
                f"{file_aoi!r}: is this file from another AOI?", path=path,
                field=f"{r.where}.site_key")
        if by_id is not None and by_id != r.site_key:
            raise GeomonError(f"site id {r.site_id!r} of run {r.run_id} is site_key {by_id!r}, "
                              f"not {r.site_key!r}", path=path, field=f"{r.where}.id")
        keys[r.where] = r.site_key
    return keys
