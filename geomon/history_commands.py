"""``geomon history`` and ``geomon compare``: the run index and run-to-run differences.

Registered on the ``geomon`` group in :mod:`geomon.cli`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from geomon.history import RunRecord

__all__ = ["compare_command", "format_comparison", "format_history", "history_command"]


@click.command("history")
@click.option("--outputs", "outputs", type=click.Path(path_type=Path, file_okay=False),
              default=Path("outputs"), show_default=True,
              help="The outputs folder a pipeline's 'outputs:' points at.")
@click.option("--pipeline", default=None, help="Only runs of this pipeline (its name).")
@click.option("--aoi", default=None, help="Only runs over this AOI (its id).")
@click.option("--status", type=click.Choice(["success", "partial", "failed"]), default=None,
              help="Only runs that ended this way.")
@click.option("-n", "--limit", default=50, show_default=True, type=click.IntRange(min=1),
              help="At most this many runs, newest first.")
@click.option("--json", "as_json", is_flag=True, help="JSON (one list of records) for scripts.")
@click.option("--rebuild", is_flag=True,
              help="Rebuild the index from the run folders first (e.g. after it was lost).")
def history_command(outputs: Path, pipeline: str | None, aoi: str | None, status: str | None,
                    limit: int, as_json: bool, rebuild: bool) -> None:
    """List past assessment runs, newest first, with their headline figures.

    The list comes from OUTPUTS/runs.sqlite, which every run updates; when it is missing it is
    built from the run folders, which remain the source of truth.

    \b
    Examples:
      geomon history --aoi seguela
      geomon history --pipeline seguela-quarterly --json
    """
    from geomon.history import index_from_folders, index_path, list_runs

    if rebuild or not index_path(outputs).exists():
        if outputs.is_dir():
            summary = index_from_folders(outputs)
            click.echo(f"indexed {summary.recorded} run folders under {outputs}"
                       + (f"; skipped {len(summary.skipped)} that are not finished runs"
                          if summary.skipped else ""), err=True)
        elif rebuild:
            from geomon.errors import GeomonError

            raise GeomonError("outputs folder does not exist", path=outputs)
    runs = list_runs(outputs, pipeline=pipeline, aoi=aoi, status=status, limit=limit) \
        if outputs.is_dir() else []
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in runs], indent=2))
        return
    click.echo(format_history(runs))


@click.command("compare")
@click.argument("run_a", type=click.Path(path_type=Path))
@click.argument("run_b", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="The full comparison as JSON.")
def compare_command(run_a: Path, run_b: Path, as_json: bool) -> None:
    """What changed between two finished runs (RUN_A the earlier, usually).

    Parameters that differ, hectares per period, digging sites added, removed or changed
    (matched by overlap), and production-estimate medians.

    \b
    Example:
      geomon compare outputs/seguela/20260401T020000Z-1a2b outputs/seguela/20260701T020000Z-3c4d
    """
    from geomon.history import compare_runs

    result = compare_runs(run_a, run_b)
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
        return
    click.echo(format_comparison(result))


# -- text output --------------------------------------------------------------------------------

def _table(head: Sequence[str], rows: Sequence[Sequence[str]], right: set[int] = frozenset()
           ) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(head)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return [line(head), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _ha(value: float | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def _ct(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def _latest_year_p50(figures: dict[str, Any]) -> tuple[float | None, str]:
    years = (figures.get("estimate_p50_year") or {}).get("volumetric") or {}
    if not years:
        return None, ""
    year = max(years)
    return years[year], year


def format_history(runs: Sequence[RunRecord]) -> str:
    """A readable table of runs (what ``geomon history`` prints)."""
    if not runs:
        return "no runs recorded (run an assessment, or 'geomon history --rebuild')"
    head = ["started (UTC)", "pipeline", "run id", "aoi", "periods", "status", "sites",
            "new ha", "last period new ha", "P50 ct/yr*"]
    rows = []
    for r in runs:
        new = r.figures.get("new_ha") or {}
        last = f"{_ha(new[r.periods[-1]])} ({r.periods[-1]})" if r.periods and \
            r.periods[-1] in new else ""
        p50, year = _latest_year_p50(dict(r.figures))
        periods = (f"{r.periods[0]}–{r.periods[-1]}" if len(r.periods) > 1
                   else (r.periods[0] if r.periods else ""))
        rows.append([
            (r.started or "")[:16].replace("T", " "), r.pipeline, r.run_id, r.aoi or "",
            periods, r.status, "" if r.n_sites is None else str(r.n_sites), _ha(r.new_ha), last,
            f"{_ct(p50)} ({year})" if p50 is not None else "",
        ])
    lines = _table(head, rows, right={6, 7, 8, 9})
    failed = [r for r in runs if r.status == "failed" and r.figures.get("error")]
    lines.append("")
    lines.append("* median production estimate, volumetric method, latest assessed year")
    for r in failed:
        lines.append(f"failed {r.pipeline}/{r.run_id}: {r.figures['error']}")
    return "\n".join(lines)


def format_comparison(c: dict[str, Any]) -> str:
    """Readable text of :func:`geomon.history.compare_runs` (what ``geomon compare`` prints)."""
    a, b = c["a"], c["b"]
    out = [f"A: {a['run_dir']}  ({a['pipeline']}, {a['aoi']}, {a['status']})",
           f"B: {b['run_dir']}  ({b['pipeline']}, {b['aoi']}, {b['status']})"]
    if not c["same_aoi"]:
        out.append("note: the runs cover different AOIs")
    out.append("")
    out.append("Parameters" + (" (pipeline file changed)" if c["pipeline_file_changed"] else ""))
    if c["parameters"]:
        out += ["  " + s for s in _table(
            ["key", "A", "B"], [[d["key"], _show(d["a"]), _show(d["b"])]
                                for d in c["parameters"]])]
    else:
        out.append("  no differences")
    if c["software"]:
        out.append("Software: " + ", ".join(f"{d['package']} {d['a']} → {d['b']}"
                                           for d in c["software"]))
    it = c["items"]
    out.append(f"Imagery: {it['a']} items in A, {it['b']} in B ({it['only_in_a']} only in A, "
               f"{it['only_in_b']} only in B)")
    out.append("")
    out.append("Hectares per period")
    out += ["  " + s for s in _table(
        ["period", "new A", "new B", "Δ new", "active A", "active B", "Δ active", "cumul. B"],
        [[r["period"], _ha(r["new_ha_a"]), _ha(r["new_ha_b"]), _delta(r["new_ha_delta"]),
          _ha(r["active_ha_a"]), _ha(r["active_ha_b"]), _delta(r["active_ha_delta"]),
          _ha(r["cumulative_ha_b"])] for r in c["areas"]], right=set(range(1, 8)))]
    s = c["sites"]
    out.append("")
    out.append(f"Sites: {s['a_total']} in A, {s['b_total']} in B — {len(s['added'])} added, "
               f"{len(s['removed'])} removed, {len(s['changed'])} changed, {len(s['merged'])} "
               f"merged, {len(s['split'])} split, {s['unchanged']} unchanged")
    for site in s["added"]:
        out.append(f"  + {site['id']}  {_ha(site['area_ha'])} ha  {site['status']}  "
                   f"first seen {site['first_seen']}")
    for site in s["removed"]:
        out.append(f"  - {site['id']}  {_ha(site['area_ha'])} ha  {site['status']}")
    for ch in s["changed"]:
        status = ("" if ch["a_status"] == ch["b_status"]
                  else f"  {ch['a_status']} → {ch['b_status']}")
        out.append(f"  ~ {ch['a_id']} → {ch['b_id']}  {_ha(ch['a_area_ha'])} → "
                   f"{_ha(ch['b_area_ha'])} ha ({_delta(ch['delta_ha'])}){status}")
    e = c["estimate"]
    out.append("")
    if e["available"] != "both":
        out.append(f"Estimate: only in {e['available'].upper()}" if e["available"] != "neither"
                   else "Estimate: in neither run")
    else:
        out.append("Estimate, median carats (P50)")
        rows = [[r["period"], r["method"], _ct(r["p50_a"]), _ct(r["p50_b"]), _ct_delta(r["delta"])]
                for r in e["periods"]]
        rows += [[r["year"], r["method"], _ct(r["p50_a"]), _ct(r["p50_b"]), _ct_delta(r["delta"])]
                 for r in e["years"]]
        out += ["  " + x for x in _table(["period", "method", "A", "B", "Δ"], rows,
                                          right={2, 3, 4})]
    return "\n".join(out)


def _show(value: Any) -> str:
    return "(absent)" if value is None else json.dumps(value, default=str)


def _delta(value: float | None) -> str:
    return "" if value is None else f"{value:+,.2f}"


def _ct_delta(value: float | None) -> str:
    return "" if value is None else f"{value:+,.0f}"
