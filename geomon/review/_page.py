"""The offline review page: one HTML file, its chips beside it, no network needed.

The page renders every card on the server side (readable without JavaScript) and embeds the same
data as JSON for its script, which adds the controls: in the review app it saves each decision
as it is made; opened from disk it keeps decisions in the browser and exports them as a JSON file
(a download made from a Blob) for ``geomon review import``.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from geomon.review._chips import CHIP_PX
from geomon.review._decisions import SiteReview

__all__ = ["render_page", "summary_text"]

_env = Environment(
    loader=PackageLoader("geomon.review", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_page(page: dict[str, Any]) -> str:
    """The review page for ``page`` (see :func:`geomon.review._package.page_data`)."""
    return _env.get_template("review.html").render(page=page, chip_px=CHIP_PX)


def summary_text(review: SiteReview) -> str:
    """One line saying where the review of a site stands (the page's script says the same)."""
    if review.status == "conflict":
        who = "; ".join(f"{r} says {s.replace('_', ' ')}" for r, s in review.opinions)
        return f"Conflict: {who}. Not resolved until the reviewers agree."
    if review.status == "pending":
        return "Not reviewed yet."
    text = f"{review.status.replace('_', ' ')} by {review.reviewer} ({review.reviewed_at})"
    return text + (f": “{review.note}”" if review.note else "")
