"""Run products for people: the HTML and PDF report, maps, and exports for GIS and Google Earth.

The pipeline starts a :func:`figure_writer` when a run starts and makes a :class:`Report` once the
run's results exist (its maps are drawn while the pipeline writes its own files), then calls
:meth:`Report.write`; :func:`write_products` does both in one go. :func:`make_site_map` makes
before/after maps of any site of a finished run (``geomon map``).
"""

from __future__ import annotations

from geomon.report._products import Report, figure_writer, write_products
from geomon.report._workers import FigureWriter
from geomon.report.site_maps import make_site_map

__all__ = ["FigureWriter", "Report", "figure_writer", "make_site_map", "write_products"]
