"""The PDF report: the same content as the HTML report (one context dict, see
:mod:`geomon.report._context`), laid out on A4 pages with matplotlib.

Why matplotlib: it is already a dependency, installs from wheels with pip alone and embeds its own
font (DejaVu Sans), so the PDF comes out the same on a fresh machine without a browser, Pango or
LaTeX. Maps are drawn by the same :func:`geomon.report.maps.draw_map` as the stand-alone maps, so
outlines and text stay vector; only the imagery backdrop is a raster.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from geomon.export import quiet_logger
from geomon.report.charts import draw_area_chart, draw_quality_chart
from geomon.report.maps import Backdrop, MapLayers, draw_map
from geomon.runs import atomic_path

__all__ = ["PageWriter", "write_pdf"]

A4 = (8.27, 11.69)
MARGIN = 0.6  # inches
_CHAR_W = 0.5  # average DejaVu Sans glyph width, in em: for wrapping
_CHAR_W_BOLD = 0.6


class PageWriter:
    """Flows headings, paragraphs, tables and figures down A4 pages of a :class:`PdfPages`.

    Positions are inches from the top of the page; a block that does not fit starts a new page.
    """

    def __init__(self, pdf: PdfPages, *, footer: str) -> None:
        self.pdf = pdf
        self.footer = footer
        self.page = 0
        self.fig: Figure | None = None
        self.y = 0.0
        self.width = A4[0] - 2 * MARGIN

    # -- pages ---------------------------------------------------------------------------------
    def new_page(self) -> None:
        self.close_page()
        self.fig = plt.figure(figsize=A4)
        self.page += 1
        self.y = MARGIN

    def close_page(self) -> None:
        if self.fig is None:
            return
        self.fig.text(MARGIN / A4[0], 0.35 / A4[1], self.footer, fontsize=6.5, color="#666")
        self.fig.text(1 - MARGIN / A4[0], 0.35 / A4[1], f"page {self.page}", fontsize=6.5,
                      color="#666", ha="right")
        self.pdf.savefig(self.fig)
        plt.close(self.fig)
        self.fig = None

    def need(self, height: float) -> None:
        """Start a new page unless ``height`` inches fit on this one."""
        if self.fig is None or self.y + height > A4[1] - MARGIN - 0.2:
            self.new_page()

    def _text(self, x: float, y: float, text: str, **kw: Any) -> None:
        assert self.fig is not None
        self.fig.text(x / A4[0], 1 - y / A4[1], text, va="top", **kw)

    # -- blocks --------------------------------------------------------------------------------
    def heading(self, text: str, *, size: float = 13) -> None:
        self.need(0.9 if size < 14 else 0.6)  # keep a heading with what follows
        self.y += 0.12
        self._text(MARGIN, self.y, text, fontsize=size, fontweight="bold")
        self.y += size / 72 * 1.5

    def paragraph(self, text: str, *, size: float = 8.5, indent: float = 0.0,
                  color: str = "#222", weight: str = "normal") -> None:
        width = self.width - indent
        em = _CHAR_W_BOLD if weight == "bold" else _CHAR_W
        chars = max(20, int(width * 72 / (size * em)))
        lines = textwrap.wrap(text, chars) or [""]
        step = size / 72 * 1.35
        for line in lines:
            self.need(step)
            self._text(MARGIN + indent, self.y, line, fontsize=size, color=color,
                       fontweight=weight)
            self.y += step
        self.y += step * 0.35

    def key_value(self, key: str, value: str, *, size: float = 8.5, key_width: float = 2.4,
                  color: str = "#222") -> None:
        """A bold label on the left, wrapped text beside it."""
        chars = max(20, int((self.width - key_width) * 72 / (size * _CHAR_W)))
        lines = textwrap.wrap(value, chars) or [""]
        key_lines = textwrap.wrap(key, int((key_width - 0.1) * 72 / (size * _CHAR_W_BOLD)))
        step = size / 72 * 1.35
        self.need(step * max(len(lines), len(key_lines)))
        for k, line in enumerate(key_lines):
            self._text(MARGIN, self.y + k * step, line, fontsize=size, fontweight="bold")
        for k, line in enumerate(lines):
            self._text(MARGIN + key_width, self.y + k * step, line, fontsize=size, color=color)
        self.y += step * max(len(lines), len(key_lines)) + step * 0.3

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]],
              widths: Sequence[float], *, size: float = 7.5,
              align: Sequence[str] | None = None) -> None:
        """A table; long cells wrap within their column; the header repeats on a new page."""
        align = align or ["left"] + ["right"] * (len(columns) - 1)
        scale = self.width / sum(widths)
        widths = [w * scale for w in widths]
        step = size / 72 * 1.3

        def wrap(cells: Sequence[Any], bold: bool = False) -> list[list[str]]:
            em = _CHAR_W_BOLD if bold else _CHAR_W
            return [textwrap.wrap(str(c), max(4, int((w - 0.1) * 72 / (size * em)))) or [""]
                    for c, w in zip(cells, widths, strict=True)]

        def draw(cells: list[list[str]], *, header: bool) -> None:
            assert self.fig is not None
            n = max(len(c) for c in cells)
            x = MARGIN
            for lines, w, a in zip(cells, widths, align, strict=True):
                for k, line in enumerate(lines):
                    tx = x + 0.04 if a == "left" else x + w - 0.04
                    self._text(tx, self.y + 0.03 + k * step, line, fontsize=size, ha=a,
                               fontweight="bold" if header else "normal")
                x += w
            self.y += n * step + 0.06
            self.fig.add_artist(plt.Line2D(
                [MARGIN / A4[0], (MARGIN + self.width) / A4[0]],
                [1 - self.y / A4[1]] * 2, color="#999" if header else "#ddd", linewidth=0.5))

        head = wrap(columns, bold=True)
        self.need(step * (max(len(c) for c in head) + 2) + 0.2)
        draw(head, header=True)
        for row in rows:
            cells = wrap(row)
            if self.y + step * max(len(c) for c in cells) + 0.1 > A4[1] - MARGIN - 0.2:
                self.new_page()
                draw(head, header=True)
            draw(cells, header=False)
        self.y += 0.12

    def figure(self, height: float, draw: Callable[[Figure, list[float]], None]) -> None:
        """Reserve ``height`` inches and call ``draw(fig, [left, bottom, width, height])`` with
        that box in figure fractions."""
        self.need(height)
        assert self.fig is not None
        rect = [MARGIN / A4[0], 1 - (self.y + height) / A4[1], self.width / A4[0],
                height / A4[1]]
        draw(self.fig, rect)
        self.y += height + 0.1


def _plain(segments: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """Split a segment paragraph at its bold labels: [(label, text), ...]."""
    out: list[tuple[str, str]] = []
    for s in segments:
        if s.get("cls") == "b":
            out.append((s["text"].strip().rstrip(":"), ""))
        elif out:
            out[-1] = (out[-1][0], out[-1][1] + s["text"])
        else:
            out.append(("", s["text"]))
    return [(k, v.strip()) for k, v in out]


def _map_box(fig: Figure, rect: list[float], backdrop: Backdrop, layers: MapLayers,
             title: str, attribution: str, extent=None) -> Axes:
    left, bottom, width, height = rect
    ax = fig.add_axes([left + 0.06, bottom + 0.09 * height, width - 0.12, height * 0.80])
    draw_map(ax, backdrop, layers, title=title, attribution=attribution, extent=extent,
             legend=True)
    return ax


def _site_cells(s: dict[str, Any], per_period: bool) -> list[str]:
    cells = [s["id"] + (" (new)" if per_period and s.get("new_site") else "")]
    if per_period:
        cells += [f"{s['new_ha']:.2f}", f"{s['dug_ha']:.2f}"]
    status = s["status"] + (f" ({s['review_status'].replace('_', ' ')})"
                            if s.get("review_status") not in (None, "pending") else "")
    return [*cells, f"{s['area_ha']:.2f}", s["first_seen"], s["last_seen"], status,
            f"{s['confidence']:.2f}", f"{s['centroid_lat']:.5f}", f"{s['centroid_lon']:.5f}"]


_SITE_COLS = ["site area (ha)", "first seen", "last seen", "status (review)", "confidence",
              "latitude (°)", "longitude (°)"]


def _site_align(per_period: bool) -> list[str]:
    return ["left", *(["right"] * (3 if per_period else 1)), "left", "left", "left", "right",
            "right", "right"]


def write_pdf(path: Path, ctx: dict[str, Any], *,
              period_maps: dict[str, tuple[Backdrop, MapLayers, str]],
              site_pairs: Sequence[Any] = ()) -> Path:
    """Write the report as a PDF (atomic).

    Parameters
    ----------
    path
        Where to write.
    ctx
        :func:`geomon.report._context.report_context` of the run.
    period_maps
        Per assessed period label: (backdrop, layers, title) of its map.
    site_pairs
        :class:`geomon.report.site_maps.SitePair` to show as before/after maps.
    """
    footer = (f"geomon report · {ctx['aoi']['name']} · {ctx['first_start']} to "
              f"{ctx['last_end']} · run {ctx['run']['id']}")
    with (atomic_path(path) as tmp, plt.rc_context({"pdf.fonttype": 42}),
          quiet_logger("fontTools"),
          PdfPages(tmp, metadata={"Title": ctx["title"], "Creator": "geomon"}) as pdf):
        w = PageWriter(pdf, footer=footer)
        _summary_pages(w, ctx)
        for sec in ctx["period_sections"]:
            _period_page(w, ctx, sec, period_maps[sec["label"]])
        _sites_pages(w, ctx, site_pairs)
        _estimate_pages(w, ctx)
        _method_pages(w, ctx)
        w.close_page()
    return path


def _summary_pages(w: PageWriter, ctx: dict[str, Any]) -> None:
    w.new_page()
    w.paragraph(ctx["title"], size=15, weight="bold")
    w.paragraph(f"geomon run {ctx['run']['id']} of pipeline {ctx['run']['pipeline']}, started "
                f"{ctx['run']['started']}. Areas in hectares (1 ha = 10,000 m²), production in "
                f"carats (ct).", size=7.5, color="#555")
    w.heading("Summary")
    for para in ctx["summary"]:
        for key, value in _plain(para):
            w.key_value(key, value)
    w.heading("How digging changed over time")

    def charts(fig: Figure, r: list[float]) -> None:
        half = r[2] / 2
        bottom, height = r[1] + 0.36 * r[3], 0.56 * r[3]
        draw_area_chart(fig.add_axes([r[0] + 0.06, bottom, half - 0.09, height]), ctx["areas"])
        draw_quality_chart(fig.add_axes([r[0] + half + 0.07, bottom, half - 0.15, height]),
                           ctx["quality"])

    w.figure(3.8, charts)
    w.table(["period", "dates", "new digging (ha)", "dug, new or continued (ha)",
             "cumulative new (ha)"],
            [[a["period"], f"{a['start']} to {a['end']}", f"{a['new_ha']:.2f}",
              f"{a['active_ha']:.2f}", f"{a['cumulative_ha']:.2f}"] for a in ctx["areas"]],
            [1, 2, 1.2, 1.4, 1.2], align=["left", "left", "right", "right", "right"])


def _period_page(w: PageWriter, ctx: dict[str, Any], sec: dict[str, Any],
                 map_parts: tuple[Backdrop, MapLayers, str]) -> None:
    w.new_page()
    w.heading(f"{sec['label']}: {sec['start']} to {sec['end']}")
    w.paragraph(sec["text"])
    backdrop, layers, title = map_parts
    w.figure(6.0, lambda fig, r: _map_box(fig, r, backdrop, layers, title, ctx["attribution"]))
    if sec["sites"]:
        w.table(["site", "new (ha)", "dug (ha)", *_SITE_COLS],
                [_site_cells(s, True) for s in sec["sites"]],
                [1.5, 0.7, 0.7, 0.8, 1, 1, 1.1, 1.0, 0.9, 0.9], align=_site_align(True))
        if sec["n_more"]:
            w.paragraph(f"…and {sec['n_more']} smaller sites: layer mining_{sec['label']} in "
                        f"detections.gpkg.", size=7.5)
    else:
        w.paragraph(f"No digging was mapped in {sec['label']}.")
    look = "; ".join(f"{x['kind']} {x['area_ha']:.2f} ha ({x['count']})"
                     for x in sec["lookalikes"]) or "none"
    q = sec["quality"]
    w.paragraph(f"Look-alikes (not counted): {look}. Imagery: {q['acquisitions']} acquisitions, "
                f"median {q['median_clear_observations']:.0f} clear views per pixel, "
                f"{100 * q['observed_fraction']:.0f}% of the area seen clearly enough"
                + (" (degraded)." if q["degraded"] else "."), size=7.5)


def _sites_pages(w: PageWriter, ctx: dict[str, Any], site_pairs: Sequence[Any]) -> None:
    w.new_page()
    w.heading("Largest sites")
    if not ctx["largest"]:
        w.paragraph("No digging was mapped.")
        return
    w.table(["site", *_SITE_COLS], [_site_cells(s, False) for s in ctx["largest"]],
            [1.6, 0.9, 1, 1, 1.1, 1.0, 0.9, 0.9], align=_site_align(False))
    w.paragraph("Coordinates are each site's centroid (WGS 84). All sites: sites.csv, "
                "detections.geojson, detections.gpkg, detections.kmz.", size=7.5)
    for pair in site_pairs:
        def draw(fig: Figure, r: list[float], pair: Any = pair) -> None:
            n = len(pair.panels)
            pw = r[2] / n
            for k, (backdrop, layers, title) in enumerate(pair.panels):
                ax = fig.add_axes([r[0] + k * pw + 0.02, r[1] + 0.12 * r[3], pw - 0.05,
                                   r[3] * 0.72])
                draw_map(ax, backdrop, layers, title=title, attribution=pair.attribution,
                         extent=pair.extent, legend=k == n - 1)
        w.need(5.0)
        w.paragraph(pair.title, size=8.5, weight="bold")
        w.figure(4.6, draw)


def _estimate_pages(w: PageWriter, ctx: dict[str, Any]) -> None:
    est = ctx["estimate"]
    w.new_page()
    w.heading("Look-alikes found and kept apart")
    if ctx["lookalikes"]:
        w.table(["kind", "patches", "area (ha)"],
                [[x["kind"], x["count"], f"{x['area_ha']:.2f}"] for x in ctx["lookalikes"]],
                [2, 1, 1])
        w.paragraph("These changes resemble digging but were classed as fire scars, seasonal "
                    "cropland, flooding or roads; they are not counted as digging.", size=7.5)
    else:
        w.paragraph("None.")
    if not est:
        return
    w.heading("Production estimate (carats)")
    w.paragraph(f"Two independent models after the USGS production-capacity method: volumetric "
                f"(newly opened ground × depth × gravel share × grade × recovery) and labour "
                f"(dug area × diggers per hectare × days worked × gravel per digger-day × grade "
                f"× recovery). Uncertainty from {est['draws']:,} Monte Carlo draws of every "
                f"parameter and of the mapped area (±{100 * est['area_rel_error']:.0f}%).")
    w.table(["period", "method", "area (ha)", "P5 (ct)", "median (ct)", "P95 (ct)", "mean (ct)"],
            [[r["period"], r["method"], f"{r['area_ha']:.2f}", f"{r['p5']:,.0f}",
              f"{r['p50']:,.0f}", f"{r['p95']:,.0f}", f"{r['mean']:,.0f}"]
             for r in est["periods"]], [1, 1.2, 1, 1, 1, 1, 1],
            align=["left", "left", *["right"] * 5])
    if est.get("declared"):
        w.paragraph("Declared figures against the estimate", weight="bold")
        w.table(["period", "method", "declared (ct)", "P5 (ct)", "P95 (ct)", "position"],
                [[c["period"], c["method"], f"{c['declared']:,.0f}", f"{c['p5']:,.0f}",
                  f"{c['p95']:,.0f}", f"{c['position']} the range"] for c in est["declared"]],
                [1, 1.2, 1, 1, 1, 1.4], align=["left", "left", "right", "right", "right", "left"])
    w.paragraph("Parameters and their sources", weight="bold")
    w.table(["parameter", "distribution", "source"],
            [[name, p["describe"], p.get("source") or "no source given"]
             for name, p in est["parameters"].items()], [1.6, 2, 5],
            align=["left", "left", "left"])


def _method_pages(w: PageWriter, ctx: dict[str, Any]) -> None:
    w.new_page()
    w.heading("Method")
    for m in ctx["method"]:
        w.paragraph(m)
    w.paragraph("Parameters of this run", weight="bold")
    w.table(["parameter", "value", "what it does"],
            [[p["name"], p["value"], p["meaning"]] for p in ctx["parameters"]], [2.4, 1.8, 3],
            align=["left", "left", "left"])
    w.heading("Sources")
    for s in ctx["sources"]:
        w.paragraph("• " + s, indent=0.1)
    prov = ctx["provenance"]
    w.heading("Run record")
    w.paragraph(f"{prov['n_items']} Sentinel-2 scenes were used. The full list with cloud cover, "
                f"the pipeline file's checksum and the checksum of every file of the run are in "
                f"manifest.json.")
    w.table(["period", "dates", "scenes used", "mean cloud cover (%)", "unreadable assets"],
            [[i["period"] + (" (baseline)" if i["period"] in ctx["baseline"] else ""),
              f"{i['start']} to {i['end']}", i["n_items"],
              "–" if i["mean_cloud_cover"] is None else f"{i['mean_cloud_cover']:.1f}",
              i["skipped"]] for i in prov["items"]], [1.4, 2, 1, 1.2, 1.2],
            align=["left", "left", "right", "right", "right"])
    w.table(["software", "version"], list(prov["software"].items()), [2, 2],
            align=["left", "left"])
    w.paragraph(ctx["attribution"] + ".", size=7.5)
