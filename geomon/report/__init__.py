"""The run report: one self-contained HTML file (images embedded, no external resources)."""

from __future__ import annotations

from geomon.report._html import render_report

__all__ = ["render_report"]
