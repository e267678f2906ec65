"""The Detector protocol and its output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import xarray as xr

#: ``state`` codes per pixel and period.
STATE_CODES = {0: "none", 1: "new", 2: "active", 3: "revegetating"}
#: ``confounder`` codes per pixel and period.
CONFOUNDER_CODES = {0: "none", 1: "fire_scar", 2: "cropland", 3: "flood", 4: "road"}
#: Value of ``state`` where a pixel was not seen clearly enough in a period to decide.
UNOBSERVED = 255


@dataclass(frozen=True)
class Detection:
    """Per-period rasters (dims ``period, y, x``, assessed periods only), lazy.

    ``state``: uint8 :data:`STATE_CODES` (255 where unobserved); ``confounder``: uint8
    :data:`CONFOUNDER_CODES`; ``score``: float32 0–1, how strongly the pixel looks like digging.
    ``thresholds``: per assessed period (dim ``period``), the values of thresholds the detector
    set from the data (see :mod:`geomon.detect.thresholds`), by name; recorded in the manifest.
    """

    state: xr.DataArray
    confounder: xr.DataArray
    score: xr.DataArray
    thresholds: dict[str, xr.DataArray] = field(default_factory=dict)


class Detector(Protocol):
    """Turns per-period composites into per-period rasters.

    A detector sees only per-period aggregates (composites, shares, sums), never the time
    series itself: that is what lets runs store composites per period and reuse them.
    """

    def observation_layers(self, cube: xr.Dataset) -> dict[str, xr.DataArray]:
        """Boolean (time, y, x) layers whose per-period share of clear views the detector reads
        from the composites as ``<name>_frac``."""
        ...

    def observation_sums(self, cube: xr.Dataset) -> dict[str, xr.DataArray]:
        """Float per-observation layers whose per-period sums over clear views the detector
        reads from the composites as ``<name>_sum`` (empty for most detectors)."""
        ...

    def detect(self, composites: xr.Dataset, *, n_baseline: int) -> Detection:
        """Rasters for the periods after the first ``n_baseline`` (the baseline)."""
        ...
