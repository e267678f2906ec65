"""What the report says, as plain data: one dict that the HTML template and the PDF pages both
render, so the two documents say the same thing in the same words.

Sentences that carry headline numbers are lists of *segments* (``{"text", "id", "cls"}``): the
HTML wraps a segment with an ``id`` in ``<span id=...>`` (tests and scripts read those), the PDF
joins the texts.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from geomon.assessment import Assessment
from geomon.export import site_table
from geomon.report.maps import attribution_for
from geomon.report.site_activity import SiteHistory, site_history
from geomon.runs import software_versions

__all__ = ["report_context"]

#: Rows of the per-period and overall site tables (the rest are in sites.csv).
MAX_SITE_ROWS = 10
MAX_LARGEST_ROWS = 15

_KIND_NAMES = {"fire_scar": "fire scar", "cropland": "cropland", "flood": "flood",
               "road": "road or track"}


def _seg(text: str, id: str | None = None, cls: str | None = None) -> dict[str, Any]:
    return {"text": text, "id": id, "cls": cls}


def _ha(v: float) -> str:
    return f"{v:.2f}"


def _ct(v: float) -> str:
    return f"{v:,.0f}"


def report_context(result: Assessment, *, history: SiteHistory | None = None) -> dict[str, Any]:
    """Everything the report shows, from one assessment.

    Parameters
    ----------
    result
        The finished assessment.
    history
        Per-site, per-period hectares (:func:`geomon.report.site_activity.site_history`); computed
        when not given.
    """
    pipe, aoi, sites = result.pipe, result.aoi, result.sites
    periods = result.periods
    labels = [p.label for p in periods]
    mining = sites.mining
    history = history or site_history(mining, result.state, result.transform, labels)
    table = {r["id"]: r for r in site_table(mining)}
    areas = [{**asdict(a), "start": a.start.isoformat(), "end": a.end.isoformat()}
             for a in sites.areas]
    latest = areas[-1]
    previous = areas[-2] if len(areas) > 1 else None
    n_active = int((mining["status"] == "active").sum()) if len(mining) else 0
    years = [p.start.year for p in periods] + [p.end.year for p in periods]
    estimate = result.estimate.to_json_dict() if result.estimate is not None else None
    quality = {q["period"]: q for q in result.quality}
    baseline = [p.label for p in result.baseline]

    ctx: dict[str, Any] = {
        "title": f"Artisanal digging in {aoi.name} ({aoi.country}), {periods[0].start} to "
                 f"{periods[-1].end}",
        "aoi": {"id": aoi.id, "name": aoi.name, "country": aoi.country,
                "deposit_type": aoi.deposit_type, "catchment": aoi.catchment,
                "notes": aoi.notes, "area_km2": round(aoi.area_km2, 2), "crs": aoi.crs,
                "bbox": [round(v, 5) for v in aoi.bbox]},
        "run": {"id": result.run_id, "started": result.started.strftime("%Y-%m-%d %H:%M UTC"),
                "pipeline": pipe.name,
                "pipeline_file": Path(pipe.path).name if pipe.path else None},
        "first_start": periods[0].start.isoformat(), "last_end": periods[-1].end.isoformat(),
        "period_kind": pipe.period, "baseline": baseline,
        "areas": areas, "latest": latest, "previous": previous,
        "headline": {"period": latest["period"], "new_ha": latest["new_ha"],
                     "active_ha": latest["active_ha"], "cumulative_ha": latest["cumulative_ha"],
                     "new_change_ha": (latest["new_ha"] - previous["new_ha"]) if previous
                     else None,
                     "n_sites": len(mining), "n_active": n_active},
        "quality": result.quality,
        "estimate": estimate,
        "attribution": attribution_for(years),
    }
    ctx["review"] = _review(mining, result.reviewed_areas, sites.areas)
    ctx["summary"] = _summary(ctx, aoi_area=aoi.area_km2, estimate=estimate)
    ctx["period_sections"] = [
        _period_section(i, p, mining, history, table, sites.confounders, quality[p.label],
                        areas[i])
        for i, p in reversed(list(enumerate(periods)))
    ]
    largest = mining.sort_values("area_ha", ascending=False).head(MAX_LARGEST_ROWS) \
        if len(mining) else mining
    ctx["largest"] = [table[i] for i in largest["id"]] if len(largest) else []
    ctx["n_more_sites"] = max(0, len(mining) - MAX_LARGEST_ROWS)
    ctx["lookalikes"] = _lookalike_areas(sites.confounders)
    ctx["method"] = _method(result)
    ctx["parameters"] = _parameters(result)
    ctx["sources"] = _sources(result)
    ctx["provenance"] = _provenance(result)
    ctx["estimate_latest"] = [r for r in estimate["periods"] if r["period"] == latest["period"]] \
        if estimate else []
    return ctx


def _summary(ctx: dict[str, Any], *, aoi_area: float, estimate: dict | None
             ) -> list[list[dict[str, Any]]]:
    h, latest, previous = ctx["headline"], ctx["latest"], ctx["previous"]
    aoi = ctx["aoi"]
    n = len(ctx["areas"])
    paras = [[
        _seg("Area: ", cls="b"),
        _seg(f"{aoi['name']} ({aoi['country']}), {aoi_area:.1f} km², {aoi['deposit_type']} "
             f"deposits. "),
        _seg("Period covered: ", cls="b"),
        _seg(f"{ctx['first_start']} to {ctx['last_end']}, {n} {ctx['period_kind']} period"
             f"{'s' if n != 1 else ''}, each compared with the imagery before it "
             f"(baseline: {', '.join(ctx['baseline']) or 'none'})."),
    ]]
    change: list[dict[str, Any]] = []
    if previous is not None:
        change = [_seg(f" ({h['new_change_ha']:+.2f} ha compared with {previous['period']}, "
                       f"when {_ha(previous['new_ha'])} ha were opened)")]
    paras.append([
        _seg(f"New digging in {latest['period']}: ", cls="b"),
        _seg(_ha(h["new_ha"]), id="new-ha"), _seg(" ha"), *change, _seg(". "),
        _seg(f"Ground dug in {latest['period']} (new or continued): ", cls="b"),
        _seg(_ha(h["active_ha"]), id="active-ha"), _seg(" ha. "),
        _seg(f"Ground opened since {ctx['first_start']}: ", cls="b"),
        _seg(_ha(h["cumulative_ha"]), id="cumulative-ha"), _seg(" ha in "),
        _seg(str(h["n_sites"]), id="n-sites"), _seg(" mapped sites, "),
        _seg(str(h["n_active"]), id="n-active"),
        _seg(f" of them active in {latest['period']}."),
    ])
    review = ctx["review"]
    if review is not None:
        n_sites = h["n_sites"]
        if set(review["counts"]) <= {"pending"}:
            counts = f"none of the {n_sites} sites has been reviewed yet"
        else:
            counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in review["counts"].items())
        segs = [_seg("Review by analysts: ", cls="b"), _seg(f"{counts}. ")]
        if review["rejected"]:
            r = review["latest"]
            segs.append(_seg(
                f"Without the {review['rejected']} rejected site"
                f"{'s' if review['rejected'] != 1 else ''}: new digging in {r['period']} "
                f"{_ha(r['new_ha'])} ha, dug {_ha(r['active_ha'])} ha, opened since "
                f"{ctx['first_start']} {_ha(r['cumulative_ha'])} ha. The production estimate "
                f"uses these reviewed areas; maps and tables show every mapped site."))
        paras.append(segs)
    if estimate:
        rows = [r for r in estimate["periods"] if r["period"] == latest["period"]]
        segs = [_seg(f"Production estimate for {latest['period']}: ", cls="b"),
                _seg("carats (ct), median with the 5–95% range: ")]
        for k, r in enumerate(rows):
            segs += [_seg(f"{r['method']} "), _seg(_ct(r["p50"]), id=f"est-{r['method']}-p50"),
                     _seg(f" ct ({_ct(r['p5'])}–{_ct(r['p95'])} ct)"),
                     _seg("; " if k < len(rows) - 1 else ". ")]
        declared = estimate.get("declared") or []
        if declared:
            flagged = sum(1 for c in declared if c["flag"])
            segs.append(_seg(f"Declared production: {flagged} of {len(declared)} comparisons "
                             f"fall outside the estimated range.",
                             cls="warn" if flagged else None))
        paras.append(segs)
    segs = [_seg("Data quality (clear views of the ground per pixel, median): ", cls="b")]
    for k, q in enumerate(ctx["quality"]):
        base = " (baseline)" if q["period"] in ctx["baseline"] else ""
        segs.append(_seg(f"{q['period']}{base}: {q['median_clear_observations']:.0f} from "
                         f"{q['acquisitions']} acquisitions"))
        if q["degraded"]:
            segs.append(_seg(f" (degraded: {100 * (1 - q['observed_fraction']):.0f}% of the area "
                             f"seen too rarely; treat its figures as a lower bound)", cls="warn"))
        segs.append(_seg("; " if k < len(ctx["quality"]) - 1 else "."))
    paras.append(segs)
    return paras


def _review(mining, reviewed_areas, areas) -> dict[str, Any] | None:
    """Counts of sites per review status, and the areas without rejected sites; None when the
    sites carry no review columns."""
    if "review_status" not in mining.columns:
        return None
    order = ("confirmed", "rejected", "needs_field_visit", "conflict", "pending")
    counts = mining["review_status"].fillna("pending").value_counts().to_dict() \
        if len(mining) else {}
    reviewed = [{**asdict(a), "start": a.start.isoformat(), "end": a.end.isoformat()}
                for a in (reviewed_areas or areas)]
    return {
        "counts": {k: int(counts[k]) for k in (*order, *sorted(set(counts) - set(order)))
                   if counts.get(k)} or {"pending": 0},
        "rejected": int(counts.get("rejected", 0)),
        "areas": reviewed, "latest": reviewed[-1],
    }


def _period_section(i: int, p: Any, mining, history: SiteHistory, table: dict, confounders,
                    quality: dict, area: dict) -> dict[str, Any]:
    start = p.start.isoformat()
    rows = []
    for k, sid in enumerate(history.ids):
        dug = history.digging_ha[k, i]
        if dug <= 0:
            continue
        t = table[sid]
        rows.append({**t, "new_ha": float(history.new_ha[k, i]), "dug_ha": float(dug),
                     "new_site": t["first_seen"] == start})
    rows.sort(key=lambda r: (-r["new_ha"], -r["dug_ha"]))
    n_new_sites = sum(r["new_site"] for r in rows)
    n = len(rows)
    new_sites = ("none of them a new site" if n_new_sites == 0 else
                 "all new sites" if n_new_sites == n else f"{n_new_sites} of them new sites")
    text = (f"{_ha(area['new_ha'])} ha of new ground was dug in {p.label} "
            f"({p.start:%d %b %Y} to {p.end:%d %b %Y}). Digging was seen at {n} site"
            f"{'s' if n != 1 else ''}" + (f" ({new_sites})" if n else "")
            + f"; in all {_ha(area['active_ha'])} ha was dug, new or continued.")
    if quality["degraded"]:
        text += (f" This period was seen poorly: {100 * (1 - quality['observed_fraction']):.0f}% "
                 f"of the area had too few clear views, so digging there may be missed or "
                 f"counted in a later period.")
    return {
        "label": p.label, "start": start, "end": p.end.isoformat(), "text": text,
        "quality": quality, "area": area, "sites": rows[:MAX_SITE_ROWS],
        "n_more": max(0, len(rows) - MAX_SITE_ROWS), "n_dug_sites": len(rows),
        "lookalikes": _lookalike_areas(confounders, start=start),
    }


def _lookalike_areas(confounders, *, start: str | None = None) -> list[dict[str, Any]]:
    """Hectares and count of look-alikes per kind (in the period starting ``start``, if given;
    roads have no period and always count)."""
    out: dict[str, dict[str, Any]] = {}
    for _, r in confounders.iterrows():
        periods = list(r["periods"]) if isinstance(r["periods"], list | tuple) else []
        if start is not None and periods and start not in periods:
            continue
        d = out.setdefault(r["class"], {"kind": _KIND_NAMES.get(r["class"], r["class"]),
                                         "area_ha": 0.0, "count": 0})
        d["area_ha"] += float(r["area_ha"])
        d["count"] += 1
    return sorted(out.values(), key=lambda d: -d["area_ha"])


def _method(result: Assessment) -> list[str]:
    pipe, aoi = result.pipe, result.aoi
    d, m = pipe.detection, pipe.mask
    src = pipe.source.url or "a static STAC catalog"
    return [
        f"Imagery: Sentinel-2 Level-2A surface reflectance ({pipe.source.collection}) from {src}, "
        f"scenes with up to {pipe.source.max_cloud_cover:g}% cloud cover, loaded onto the AOI's "
        f"UTM grid ({aoi.crs}) at 10 m.",
        f"Clear sky: pixels the scene classification marks as cloud, cloud shadow or cirrus are "
        f"left out, with a buffer of {m.cloud_buffer_px} pixel(s) of 20 m"
        + ("; bright bare ground that the classification mistakes for cloud is kept"
           if m.keep_bright_ground else "") + ".",
        f"Composites: each {pipe.period} period is summarised by the per-pixel median of its "
        f"clear observations; a pixel needs at least {d.min_clear_observations} clear "
        f"observations in a period to be judged, otherwise it is 'unobserved'.",
        f"Detection ({d.method}): digging is bare ground (NDVI below {d.ndvi_bare}) that lost "
        f"vegetation (NDVI drop of at least {d.ndvi_drop} from earlier periods) and is bright in "
        f"short-wave infrared (SWIR 1.6 µm reflectance above {d.bright_swir16}), or turbid pit "
        f"water; it is confirmed by the next period where that period was seen. Pixels at a "
        f"site's border that are part spoil (low NDVI, the grey colour of gravel rather than the "
        f"red of laterite) are added to it. Fire scars, seasonal cropland, floods and roads look "
        f"similar and are kept apart.",
        f"Sites: touching digging pixels form one site; patches under {d.min_mapping_unit_ha} ha "
        f"(the minimum mapping unit) and long thin strips (roads, tracks) are dropped. Areas are "
        f"counted in pixels of the UTM grid (1 pixel = 0.01 ha), not measured in degrees. A "
        f"site's status is what it was doing in the last period: active (dug), revegetating "
        f"(regrowth seen) or inactive.",
        "Confidence (0–1) is the probability that at least half of the site is digging, from "
        "how strongly its pixels look like digging, how often it was seen dug after it first "
        "appeared and its area, calibrated on the simulator benchmark (confidence_basis in "
        "detections.geojson names the calibration).",
    ]


def _parameters(result: Assessment) -> list[dict[str, str]]:
    pipe = result.pipe
    d, m = pipe.detection, pipe.mask
    rows = [
        ("periods", f"{pipe.period}, {pipe.start} to {pipe.end}", "assessed time span"),
        ("baseline_periods", str(pipe.baseline_periods), "periods of imagery before the start"),
        ("source.max_cloud_cover", f"{pipe.source.max_cloud_cover:g} %", "scene cloud filter"),
        ("mask.cloud_buffer_px", f"{m.cloud_buffer_px} px (20 m)", "buffer around clouds"),
        ("mask.keep_bright_ground", str(m.keep_bright_ground),
         "keep bright soil the classification calls cloud"),
        ("mask.cloud_probability",
         f"{m.cloud_probability}, ≥ {m.cloud_probability_threshold:g}"
         if m.cloud_probability else "off", "cloud-probability model added to SCL"),
        ("detection.method", d.method, "change detector"),
        ("detection.min_mapping_unit_ha", f"{d.min_mapping_unit_ha} ha", "smallest site kept"),
        ("detection.min_clear_observations", str(d.min_clear_observations),
         "clear observations needed per pixel and period"),
        ("detection.ndvi_bare", str(d.ndvi_bare), "NDVI below which ground is bare"),
        ("detection.ndvi_drop", str(d.ndvi_drop), "NDVI loss that counts as disturbance"),
        ("detection.bright_swir16", str(d.bright_swir16),
         "SWIR 1.6 µm reflectance of fresh spoil"),
    ]
    est = pipe.estimate
    if est.enabled:
        rows += [("estimate.draws", f"{est.draws:,}", "Monte Carlo draws"),
                 ("estimate.seed", str(est.seed), "random seed (same seed, same figures)"),
                 ("estimate.area_rel_error", f"±{100 * est.area_rel_error:.0f} %",
                  "mapping error of areas")]
    return [{"name": a, "value": b, "meaning": c} for a, b, c in rows]


def _sources(result: Assessment) -> list[str]:
    pipe, aoi = result.pipe, result.aoi
    where = pipe.source.url or (f"static catalog {Path(pipe.source.catalog).name}"
                                if pipe.source.catalog else pipe.source.kind)
    out = [
        f"Imagery: Copernicus Sentinel-2 Level-2A ({pipe.source.collection}), European Space "
        f"Agency / European Commission, via {where}. {attribution_for([p.start.year for p in result.periods])}.",  # noqa: E501
        f"Area of interest: {aoi.id} ({Path(aoi.path).name if aoi.path else 'built in'}). "
        f"{aoi.notes}",
        "Signs of active artisanal diamond digging in imagery (bright bare soil, no surrounding "
        "vegetation, angular pits, turbid pit water): USGS Open-File Report 2018-1088.",
        "Production capacity and resource potential methods: USGS Fact Sheet 2012-3128; USGS "
        "Scientific Investigations Reports 2012-5256 (Guinea), 2010-5045 (Ghana) and 2013-5185 "
        "(Côte d'Ivoire).",
    ]
    if result.estimate is not None:
        out.append("Production-estimate parameters: each parameter's own source is given in the "
                   "parameter table of the production estimate section.")
    return out


def _provenance(result: Assessment) -> dict[str, Any]:

    items = []
    for q in result.quality:
        clouds = [it["cloud_cover"] for it in q["items"] if it.get("cloud_cover") is not None]
        items.append({
            "period": q["period"], "start": q["start"], "end": q["end"],
            "n_items": len(q["items"]),
            "mean_cloud_cover": round(sum(clouds) / len(clouds), 1) if clouds else None,
            "ids": [it["id"] for it in q["items"]],
            "skipped": len(q.get("skipped_assets") or []),
        })
    return {"items": items, "n_items": sum(i["n_items"] for i in items),
            "software": software_versions()}
