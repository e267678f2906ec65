"""Explainable rule method: composite differences plus persistence.

A pixel is *disturbed* in a period when its composite is bright bare ground (low NDVI, bright
SWIR-1.6, positive bare-soil index) or turbid water. It is *new digging* when it is disturbed, was
vegetated in an earlier period (NDVI dropped by at least ``ndvi_drop``), and is still disturbed in
the next period where that period was seen (digging persists; a cleared field regrows).

Look-alikes get their own codes instead of being thrown away: a dark NDVI drop with a falling burn
ratio is a fire scar; a bare patch that is green again next period is cropland; new clear water is
flooding. Roads are recognised by shape after vectorising.
"""

from __future__ import annotations

import xarray as xr

from geomon.detect._base import UNOBSERVED, Detection
from geomon.indices import add_indices

__all__ = ["RulesDetector"]


class RulesDetector:
    """Threshold rules on per-period composites (see module docstring).

    Parameters
    ----------
    config
        :class:`geomon.config.DetectionConfig`: ``ndvi_bare``, ``ndvi_drop``, ``bright_swir16``,
        ``min_clear_observations``.
    """

    def __init__(self, config) -> None:
        self.c = config

    def detect(self, composites: xr.Dataset, *, n_baseline: int) -> Detection:
        c = self.c
        comp = add_indices(composites, ("ndvi", "bsi", "mndwi", "nbr", "turbidity"))
        observed = comp["clear_count"] >= c.min_clear_observations
        spoil = (comp.ndvi < c.ndvi_bare) & (comp.swir16 > c.bright_swir16) & (comp.bsi > 0)
        pit_water = (comp.mndwi > 0) & (comp.turbidity > 1.0)
        disturbed = (spoil | pit_water) & observed
        n = comp.sizes["period"]

        states, confounders, scores = [], [], []
        mined_before = xr.zeros_like(observed.isel(period=0, drop=True), dtype=bool)
        for i in range(n_baseline, n):
            now = comp.isel(period=i, drop=True)
            seen = observed.isel(period=i, drop=True)
            dist = disturbed.isel(period=i, drop=True)
            ref_ndvi = comp.ndvi.isel(period=slice(0, i)).max("period", skipna=True)
            ref_nbr = comp.nbr.isel(period=slice(0, i)).max("period", skipna=True)
            ref_mndwi = comp.mndwi.isel(period=slice(0, i)).max("period", skipna=True)
            drop = (ref_ndvi - now.ndvi) >= c.ndvi_drop
            if i + 1 < n:
                next_seen = observed.isel(period=i + 1, drop=True)
                persists = disturbed.isel(period=i + 1, drop=True) | ~next_seen
            else:
                persists = xr.ones_like(dist)
            candidate = dist & drop & ~mined_before
            new = candidate & persists
            active = mined_before & dist
            reveg = mined_before & ~dist & seen
            state = (
                new.astype("uint8") * 1 + active.astype("uint8") * 2 + reveg.astype("uint8") * 3
            ).where(seen | mined_before, UNOBSERVED)

            fire = seen & ~dist & drop & ((ref_nbr - now.nbr) > 0.25) & (now.swir16 < c.bright_swir16)
            crop = candidate & ~persists
            flood = seen & (now.mndwi > 0) & (now.turbidity <= 1.0) & (ref_mndwi < 0)
            conf = (
                fire.astype("uint8") * 1 + crop.astype("uint8") * 2 + (flood & ~fire).astype("uint8") * 3
            )
            margin = ((ref_ndvi - now.ndvi) / 0.5).clip(0, 1).fillna(0)
            score = (margin * (dist | mined_before)).astype("float32")

            states.append(state.astype("uint8"))
            confounders.append(conf.where(~(new | active), 0).astype("uint8"))
            scores.append(score)
            mined_before = mined_before | new

        periods = comp.period.isel(period=slice(n_baseline, n))
        return Detection(
            state=xr.concat(states, dim=periods).rename("state"),
            confounder=xr.concat(confounders, dim=periods).rename("confounder"),
            score=xr.concat(scores, dim=periods).rename("score"),
        )
