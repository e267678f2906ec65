"""The naive NDVI-drop detector: the baseline every better method is measured against.

Flags any pixel whose period NDVI fell by at least ``ndvi_drop`` below its best earlier NDVI. It
knows nothing of fire, crops or floods: on purpose, it is what a quick analysis would do.
"""

from __future__ import annotations

import xarray as xr

from geomon.detect._base import UNOBSERVED, Detection
from geomon.indices import ndvi

__all__ = ["NaiveNdviDetector"]


class NaiveNdviDetector:
    """NDVI drop against earlier periods, no look-alike handling."""

    def __init__(self, config) -> None:
        self.c = config

    def observation_layers(self, cube: xr.Dataset) -> dict[str, xr.DataArray]:
        return {}

    def observation_sums(self, cube: xr.Dataset) -> dict[str, xr.DataArray]:
        return {}

    def detect(self, composites: xr.Dataset, *, n_baseline: int) -> Detection:
        c = self.c
        v = ndvi(composites)
        observed = composites["clear_count"] >= c.min_clear_observations
        states, scores = [], []
        flagged_before = xr.zeros_like(observed.isel(period=0, drop=True), dtype=bool)
        for i in range(n_baseline, composites.sizes["period"]):
            now = v.isel(period=i, drop=True)
            seen = observed.isel(period=i, drop=True)
            drop = v.isel(period=slice(0, i)).max("period", skipna=True) - now
            flag = seen & (drop >= c.ndvi_drop)
            state = (
                (flag & ~flagged_before).astype("uint8")
                + (flag & flagged_before).astype("uint8") * 2
                + (~flag & flagged_before & seen).astype("uint8") * 3
            ).where(seen | flagged_before, UNOBSERVED)
            states.append(state.astype("uint8"))
            scores.append((drop / 0.5).clip(0, 1).fillna(0).where(flag, 0).astype("float32"))
            flagged_before = flagged_before | flag
        periods = composites.period.isel(period=slice(n_baseline, None))
        state = xr.concat(states, dim=periods).rename("state")
        return Detection(
            state=state,
            confounder=xr.zeros_like(state).rename("confounder"),
            score=xr.concat(scores, dim=periods).rename("score"),
        )
