"""Render the HTML report from its Jinja2 template and the shared report context."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

__all__ = ["render_html"]

_env = Environment(
    loader=PackageLoader("geomon.report", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_html(ctx: dict[str, Any], images: dict[str, Any]) -> str:
    """The report as one self-contained HTML document.

    Parameters
    ----------
    ctx
        :func:`geomon.report._context.report_context` of the run.
    images
        ``data:`` URIs: ``area_chart``, ``quality_chart``, ``period_maps`` (by period label) and
        ``site_pairs`` (list of ``{"site", "period", "uri", "file"}``).
    """
    return _env.get_template("report.html").render(**ctx, images=images)
