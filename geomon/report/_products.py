"""Everything a run writes for people, from one :class:`~geomon.assessment.Assessment`."""

from __future__ import annotations

from geomon.assessment import Assessment
from geomon.report._html import render_report
from geomon.runs import RunDir, write_text


def write_products(result: Assessment, run: RunDir) -> None:
    """Write the report (and maps and exports) of ``result`` into the run folder."""
    write_text(run.path("report.html"), render_report(result))
