"""Run products for people: the self-contained HTML report (and later maps and exports)."""

from __future__ import annotations

from geomon.report._html import render_report
from geomon.report._products import write_products

__all__ = ["render_report", "write_products"]
