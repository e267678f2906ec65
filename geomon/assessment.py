"""What one run found: the in-memory result every output (report, maps, exports) is made from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import xarray as xr
from affine import Affine

from geomon.aoi import AOI
from geomon.config import Period, Pipeline
from geomon.vectorize import PeriodArea, Sites

__all__ = ["Assessment"]


@dataclass(frozen=True)
class Assessment:
    """A finished assessment, before it is written out.

    Attributes
    ----------
    pipe, aoi
        The validated pipeline and AOI.
    run_id, started
        The run's id and start time (UTC).
    baseline, periods
        Baseline periods (imagery before ``start``) and assessed periods.
    sites
        Mining and look-alike polygons (UTM) and per-period areas; mining carries each site's
        ``site_key`` and ``review_status`` from the review store.
    reviewed_areas
        Per-period areas without the sites reviewers rejected: what the estimate is made from.
    quality
        Per period (baseline included): acquisitions, clear observations, degraded flag, items.
    estimate
        :class:`geomon.estimate.Estimate`, or None when estimates are off.
    composites
        Computed per-period composites, dims ``(period, y, x)``, baseline included: reflectance
        bands ``blue, green, red, nir, swir16, swir22`` and ``clear_count``.
    state, confounder
        uint8 ``(period, y, x)`` rasters of the assessed periods (see :mod:`geomon.detect`).
    transform, crs
        The AOI grid.
    """

    pipe: Pipeline
    aoi: AOI
    run_id: str
    started: datetime
    baseline: list[Period]
    periods: list[Period]
    sites: Sites
    reviewed_areas: list[PeriodArea]
    quality: list[dict[str, Any]]
    estimate: Any
    composites: xr.Dataset
    state: np.ndarray
    confounder: np.ndarray
    transform: Affine
    crs: str
