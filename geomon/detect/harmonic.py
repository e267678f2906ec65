"""Time-series method: each pixel's own seasonal NDVI, and a break from it that persists.

A year or more of baseline imagery gives every pixel a seasonal model of its NDVI, a harmonic
regression ``ndvi(t) = b0 + b1 cos(2πt/365.25) + b2 sin(2πt/365.25)`` fitted to its clear
observations (the model BFAST-monitor and similar methods start from). In each assessed period
the mean residual of the period's clear observations against that model, and its z-score
against the baseline scatter, say whether the pixel left its seasonal course: a *break*.
Cropland and floodplains that green and brown every year follow their course and do not break;
digging does, and stays broken.

Digging is a break that

- drops NDVI by at least ``break_ndvi_drop`` below the seasonal expectation with
  ``|z| >= break_z``,
- shows the spoil signature in at least ``onset_fraction`` of the period's clear views (gravel,
  not a burn or a ploughed field: shared with the rule method), and
- persists: the next period in which the pixel is seen still breaks (a fire scar regrows within
  weeks); with no later period yet, spoil in ``unconfirmed_fraction`` of this one's views.

Ground already dug at the baseline (:func:`geomon.detect.rules.old_digging`) is modelled as
normal by the regression; as in the rule method it is active digging where it is still spoil near
a stream and the digging goes on
(:func:`geomon.detect.rules.goes_on`), with the pits and thin spoil inside it
(:func:`geomon.detect.rules.old_ground`); a new site's front dug in the last views of the last
period joins it (:func:`geomon.detect.rules.unconfirmed_front`). Look-alikes get the rule
method's codes (:func:`geomon.detect.rules.lookalikes`).

The method needs only per-period sums over clear views (:meth:`observation_sums`), so it works
with composites stored per period and tile like every other detector.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from geomon.detect._base import UNOBSERVED, Detection
from geomon.detect.rules import (
    FRESH_SPOIL,
    RulesDetector,
    drainage,
    edge_candidates,
    goes_on,
    lookalikes,
    old_digging,
    old_ground,
    persists_when_next_seen,
    recover_edges,
    spoil_share,
    unconfirmed_front,
)
from geomon.indices import add_indices, ndvi
from geomon.morphology import dilate, grow_within

__all__ = ["HarmonicDetector", "fit_harmonic"]

#: Angular frequency of the annual cycle, per day.
OMEGA = 2 * np.pi / 365.25
#: Regressor products stored per period (besides the count): the normal equations' terms.
TERMS = ("c", "s", "cc", "cs", "ss", "y", "cy", "sy", "yy")
#: Smallest NDVI scatter assumed for a pixel (sensor and residual-cloud noise).
MIN_SIGMA = 0.03
#: Ridge on the harmonic coefficients, in observations: few views give a flat seasonal model.
RIDGE = 2.0


class HarmonicDetector:
    """Seasonal-model breaks confirmed by spoil and persistence (see the module docstring).

    Parameters
    ----------
    config
        :class:`geomon.config.DetectionConfig`.
    """

    def __init__(self, config) -> None:
        self.c = config
        self._rules = RulesDetector(config)

    def observation_layers(self, cube: xr.Dataset) -> dict[str, xr.DataArray]:
        """The rule method's per-view ``spoil`` and ``water`` layers. Lazy."""
        return self._rules.observation_layers(cube)

    def observation_sums(self, cube: xr.Dataset) -> dict[str, xr.DataArray]:
        """Per-view products of the regression: cos, sin, their squares and cross term, NDVI
        and NDVI times each (``h<term>``). Lazy."""
        day = (cube.time - np.datetime64("2000-01-01")) / np.timedelta64(1, "D")
        c, s, y = np.cos(OMEGA * day), np.sin(OMEGA * day), ndvi(cube)
        parts = {"c": c, "s": s, "cc": c * c, "cs": c * s, "ss": s * s,
                 "y": y, "cy": c * y, "sy": s * y, "yy": y * y}
        return {f"h{k}": v.astype("float32") for k, v in parts.items()}

    def detect(self, composites: xr.Dataset, *, n_baseline: int) -> Detection:
        c = self.c
        comp = add_indices(composites, ("ndvi", "bsi", "mndwi", "nbr"))
        observed = comp["clear_count"] >= c.min_clear_observations
        n = comp.sizes["period"]
        base = {k: comp[f"h{k}_sum"].isel(period=slice(0, n_baseline)).sum("period")
                for k in TERMS}
        count = comp["clear_count"].astype("float64")
        beta0, beta1, beta2, sigma = fit_harmonic(
            count.isel(period=slice(0, n_baseline)).sum("period"), **base)

        spoil = spoil_share(comp, observed, c)
        # mean residual of each period's views against the seasonal model, and its z-score
        expected = beta0 * count + beta1 * comp["hc_sum"] + beta2 * comp["hs_sum"]
        residual = (comp["hy_sum"] - expected) / count.where(count > 0)
        z = residual * np.sqrt(count) / sigma
        broken = (residual <= -c.break_ndvi_drop) & (z <= -c.break_z)
        signal = (broken & (spoil >= c.onset_fraction)).astype("float32").where(observed)
        later = persists_when_next_seen(signal, 0.5, first=n_baseline)
        near_drainage = dilate(drainage(comp, observed), c.drainage_distance_px)
        baseline_spoil = spoil.isel(period=slice(0, n_baseline))
        before_start = baseline_spoil.max("period", skipna=True) >= c.active_fraction
        old = old_digging(baseline_spoil, c)  # digging older than the assessment

        edge, edge_thresholds = edge_candidates(comp, observed, n_baseline, c)
        going_on = goes_on(comp, spoil, observed, c, first=n_baseline)

        states, confounders, scores = [], [], []
        dug = xr.zeros_like(observed.isel(period=0, drop=True), dtype=bool)
        low = comp.ndvi.where(observed).isel(period=slice(0, n_baseline)).min("period")
        for i in range(n_baseline, n):
            ndvi_now = comp.ndvi.isel(period=i, drop=True)
            seen = observed.isel(period=i, drop=True)
            frac = spoil.isel(period=i, drop=True).fillna(0)
            onset = seen & (frac >= c.onset_fraction)
            breaks = seen & (signal.isel(period=i, drop=True) == 1)
            confirm = later[i - n_baseline]
            persists = (confirm == 1) | (confirm.isnull() & (frac >= c.unconfirmed_fraction))
            new = breaks & persists & ~dug & ~before_start
            existing = onset & going_on[i - n_baseline] & old & near_drainage & ~dug
            active = (dug & (onset | breaks)) | existing
            before = spoil.isel(period=slice(0, i)).max("period", skipna=True)
            fresh = onset & confirm.isnull() & (before < FRESH_SPOIL) & ~dug & ~active
            new = new | unconfirmed_front(new, fresh, c)
            new, active = recover_edges(new, active, edge.isel(period=i, drop=True), dug, c)
            active = grow_within(active, old_ground(ndvi_now, low, seen & old, c) & ~new,
                                 c.edge_px)
            digging = new | active
            reveg = dug & seen & ~digging
            state = (new.astype("uint8") + active.astype("uint8") * 2
                     + reveg.astype("uint8") * 3).where(seen | dug, UNOBSERVED)
            states.append(state.astype("uint8"))
            confounders.append(lookalikes(comp, i, seen & ~onset & ~breaks & ~dug & ~digging,
                                          c))
            strength = (-z.isel(period=i, drop=True) / (2 * c.break_z)).clip(0, 1).fillna(0)
            scores.append(xr.where(digging, np.maximum(strength, frac), 0).astype("float32"))
            dug = dug | digging
            low = xr.where(seen, np.fmin(low, ndvi_now), low)

        periods = comp.period.isel(period=slice(n_baseline, n))
        return Detection(
            state=xr.concat(states, dim=periods).rename("state"),
            confounder=xr.concat(confounders, dim=periods).rename("confounder"),
            score=xr.concat(scores, dim=periods).rename("score"),
            thresholds={k: v.isel(period=slice(n_baseline, n)) for k, v in edge_thresholds.items()},
        )


def fit_harmonic(n: xr.DataArray, *, c, s, cc, cs, ss, y, cy, sy, yy
                 ) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray, xr.DataArray]:
    """Per-pixel least squares of ``y ~ b0 + b1 cos + b2 sin`` from its summed products.

    Returns ``b0, b1, b2`` and the residual standard deviation (at least :data:`MIN_SIGMA`).
    The harmonic coefficients carry a ridge of :data:`RIDGE` observations, so a pixel seen a
    few times gets a flat model (its mean). Lazy on dask inputs.

    >>> import numpy as np, xarray as xr
    >>> t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    >>> obs = 0.5 + 0.2 * np.cos(t) - 0.1 * np.sin(t)
    >>> sums = {k: xr.DataArray(v.sum()) for k, v in dict(
    ...     c=np.cos(t), s=np.sin(t), cc=np.cos(t) ** 2, cs=np.cos(t) * np.sin(t),
    ...     ss=np.sin(t) ** 2, y=obs, cy=np.cos(t) * obs, sy=np.sin(t) * obs,
    ...     yy=obs ** 2).items()}
    >>> b0, b1, b2, sd = fit_harmonic(xr.DataArray(40.0), **sums)
    >>> [round(float(v), 2) for v in (b0, b1, b2, sd)]
    [0.5, 0.18, -0.09, 0.03]
    """

    def solve(n, c, s, cc, cs, ss, y, cy, sy, yy):
        xtx = np.stack([np.stack([n, c, s], -1), np.stack([c, cc, cs], -1),
                        np.stack([s, cs, ss], -1)], -2)
        b = np.stack([y, cy, sy], -1)
        ok = n >= 3
        a = np.where(ok[..., None, None], xtx + np.diag([0.0, RIDGE, RIDGE]), np.eye(3))
        b = np.where(ok[..., None], b, 0.0)
        beta = np.linalg.solve(a, b[..., None])[..., 0]
        fitted = (beta[..., None, :] @ xtx @ beta[..., :, None])[..., 0, 0]
        rss = yy - 2 * (beta * b).sum(-1) + fitted
        sd = np.sqrt(np.clip(rss, 0, None) / np.maximum(n - 3, 1))
        sd = np.where(ok, np.maximum(sd, MIN_SIGMA), np.nan)
        beta = np.where(ok[..., None], beta, np.nan)
        return beta[..., 0], beta[..., 1], beta[..., 2], sd

    args = [v.astype("float64") for v in (n, c, s, cc, cs, ss, y, cy, sy, yy)]
    return xr.apply_ufunc(solve, *args, dask="parallelized", output_core_dims=[[]] * 4,
                          output_dtypes=[np.float64] * 4)
