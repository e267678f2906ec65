"""Run products for people: the HTML and PDF report, maps, and exports for GIS and Google Earth.

:func:`write_products` is what the pipeline calls once per run; :func:`make_site_map` makes
before/after maps of any site of a finished run (``geomon map``).
"""

from __future__ import annotations

from geomon.report._products import write_products
from geomon.report.site_maps import make_site_map

__all__ = ["make_site_map", "write_products"]
