"""Render the HTML report from its Jinja2 template."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from geomon.assessment import Assessment
from geomon.report.maps import overview_map, png_data_uri

_env = Environment(
    loader=PackageLoader("geomon.report", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_report(result: Assessment) -> str:
    """The run's report as one self-contained HTML document."""
    pipe, aoi, sites, periods = result.pipe, result.aoi, result.sites, result.periods
    last = periods[-1]
    y0, y1 = periods[0].start.year, last.end.year
    attribution = f"Contains modified Copernicus Sentinel data {y0}" + (f"–{y1}" if y1 > y0 else "")
    backdrop = result.composites.sel(period=last.label)[["red", "green", "blue"]]
    fig = overview_map(
        backdrop.to_array("band").values, result.transform, sites=sites.mining,
        aoi_outline=aoi.utm_geometry,
        title=f"{aoi.name}: digging mapped {periods[0].start} to {last.end} "
              f"(backdrop: {last.label} true colour)",
        attribution=attribution,
    )
    areas = sites.areas
    latest = areas[-1]
    previous = areas[-2] if len(areas) > 1 else None
    mining = sites.mining
    largest = mining.sort_values("area_ha", ascending=False).head(15) if len(mining) else mining
    centroids = largest.to_crs(4326).geometry.representative_point() if len(largest) else []
    largest_rows = [
        {**{k: r[k] for k in ("id", "first_seen", "last_seen", "status", "area_ha", "confidence")},
         "lat": round(pt.y, 5), "lon": round(pt.x, 5)}
        for (_, r), pt in zip(largest.iterrows(), centroids, strict=True)
    ]
    conf_summary: dict[str, float] = {}
    for _, r in sites.confounders.iterrows():
        conf_summary[r["class"]] = conf_summary.get(r["class"], 0.0) + r["area_ha"]
    return _env.get_template("report.html").render(
        pipe=pipe, aoi=aoi, run_id=result.run_id,
        started=result.started.strftime("%Y-%m-%d %H:%M UTC"),
        periods=periods, areas=areas, latest=latest, previous=previous,
        n_active=int((mining["status"] == "active").sum()) if len(mining) else 0,
        n_sites=len(mining), largest=largest_rows, confounders=conf_summary,
        quality=result.quality, map_uri=png_data_uri(fig), attribution=attribution,
        estimate=_estimate_summary(result.estimate),
    )


def _estimate_summary(estimate: Any) -> dict[str, Any] | None:
    if estimate is None:
        return None
    return estimate.to_json_dict()
