"""Explainable rule method: how often a pixel looks like fresh spoil, period by period.

Artisanal digging leaves bright bare gravel and spoil, no vegetation, and turbid pit water (USGS
OFR 2018-1088). Each clear observation is tested for the *spoil* signature (NDVI low, bright in
blue and SWIR-1.6: quartz gravel is brighter in the visible than laterite roads, tilled soil, dry
grass, villages or rock). Per period the detector reads the share of clear observations with it:

- *new digging*: spoil in at least ``onset_fraction`` of the period's observations, never in an
  earlier period, and still spoil in most of the next period where it was seen (digging persists;
  a misread cloud edge does not); with no later clear period yet, in most of this one, or in
  ``onset_fraction`` of it next to new digging that passed (a new site's front, dug in the last
  views: :func:`unconfirmed_front`). Counting observations rather than a median catches a rush
  that began late in the period;
- *active digging*: ground already dug that still shows spoil; ground that was already spoil at
  the baseline is active digging too (digging that predates the assessment: mostly spoil in an
  earlier period and on average since, :func:`old_digging`; dry bare ground that looks like
  spoil in dry seasons only is not) while it goes on:
  still spoil, and not greening, in the next period where it is seen. Pits and thin spoil inside
  it (old digging at the baseline, bare, not greening, within ``edge_px`` of its digging) are part
  of it, though wet, dull margins fail the per-view spoil test;
- *revegetating*: ground dug earlier that no longer shows spoil.

Pixels at a site's border are part spoil, part the ground around it, and often miss the per-view
spoil test. Each period's digging therefore grows by up to ``edge_px`` pixels into neighbours that
pass a relaxed test (:func:`edge_candidates`: NDVI below the period's edge threshold, fixed or
adapted to the AOI, see :mod:`geomon.detect.thresholds`, and ``ndvi_drop`` below the baseline);
they take the code of the digging they border (:func:`recover_edges`).

Look-alikes get their own codes instead of being thrown away: a dark NDVI drop with a falling burn
ratio is a fire scar; bare soil that is not gravel-bright is a cleared field; new water is
flooding. Roads are recognised by their shape after vectorising.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from geomon.detect._base import UNOBSERVED, Detection
from geomon.detect.thresholds import edge_ndvi, edge_redness
from geomon.indices import add_indices, ndvi, redness
from geomon.morphology import dilate, grow_within

__all__ = [
    "FRESH_SPOIL",
    "RulesDetector",
    "drainage",
    "edge_candidates",
    "goes_on",
    "lookalikes",
    "next_seen",
    "old_digging",
    "old_ground",
    "persists_when_next_seen",
    "recover_edges",
    "spoil_share",
    "unconfirmed_front",
]


#: Most spoil share any earlier period may show on ground a new site's front reaches: the front
#: cuts into fresh ground (0 on the benchmark, stray views aside), while dry bare ground that
#: passes the spoil test now and then showed it in 0.14-0.4 of some earlier period's views.
FRESH_SPOIL = 0.1


class RulesDetector:
    """Rules on per-period spoil frequency and composites (see module docstring).

    Parameters
    ----------
    config
        :class:`geomon.config.DetectionConfig`.
    """

    def __init__(self, config) -> None:
        self.c = config

    def observation_layers(self, cube: xr.Dataset) -> dict[str, xr.DataArray]:
        """Per-observation boolean layers the composites count (``spoil``). Lazy."""
        c = self.c
        spoil = (ndvi(cube) < c.ndvi_bare) & (cube.blue > c.spoil_blue) & (
            cube.swir16 > c.bright_swir16
        )
        water = (ndvi(cube) < 0) & (cube.swir16 < 0.1)
        return {"spoil": spoil, "water": water}

    def observation_sums(self, cube: xr.Dataset) -> dict[str, xr.DataArray]:
        return {}

    def detect(self, composites: xr.Dataset, *, n_baseline: int) -> Detection:
        c = self.c
        comp = add_indices(composites, ("ndvi", "bsi", "mndwi", "nbr"))
        observed = comp["clear_count"] >= c.min_clear_observations
        spoil = spoil_share(comp, observed, c)
        n = comp.sizes["period"]
        near_drainage = dilate(drainage(comp, observed), c.drainage_distance_px)
        edge, edge_thresholds = edge_candidates(comp, observed, n_baseline, c)

        states, confounders, scores = [], [], []
        later = persists_when_next_seen(spoil, c.active_fraction, first=n_baseline)
        going_on = goes_on(comp, spoil, observed, c, first=n_baseline)
        dug = xr.zeros_like(observed.isel(period=0, drop=True), dtype=bool)
        # lowest NDVI of each pixel so far: ground that greens up again from it is recovering
        low = comp.ndvi.where(observed).isel(period=slice(0, n_baseline)).min("period")
        # pits and thin spoil are taken in only inside digging older than the assessment
        old_at_start = old_digging(spoil.isel(period=slice(0, n_baseline)), c)
        for i in range(n_baseline, n):
            now = comp.isel(period=i, drop=True)
            seen = observed.isel(period=i, drop=True)
            frac = spoil.isel(period=i, drop=True).fillna(0)
            earlier = spoil.isel(period=slice(0, i))
            before = earlier.max("period", skipna=True)
            spoiled_before = before >= c.active_fraction  # so not new
            # confirmed by the next clear period; with none yet, this period must be mostly spoil
            confirm = later[i - n_baseline]
            persists = (confirm == 1) | (confirm.isnull() & (frac >= c.unconfirmed_fraction))
            greening = (now.ndvi - low) > c.reveg_ndvi_rise
            onset = seen & (frac >= c.onset_fraction) & ~greening
            new = onset & persists & ~dug & ~spoiled_before
            # digging older than the assessment is active only while it goes on (goes_on)
            existing = onset & going_on[i - n_baseline] & old_digging(earlier, c) \
                & near_drainage & ~dug
            active = (dug & onset) | existing
            fresh = onset & confirm.isnull() & (before < FRESH_SPOIL) & ~dug & ~active
            new = new | unconfirmed_front(new, fresh, c)
            new, active = recover_edges(new, active, edge.isel(period=i, drop=True), dug, c)
            active = grow_within(active, old_ground(now.ndvi, low, seen & old_at_start, c)
                                 & ~new, c.edge_px)
            digging = new | active
            reveg = dug & seen & ~digging
            state = (
                new.astype("uint8") + active.astype("uint8") * 2 + reveg.astype("uint8") * 3
            ).where(seen | dug, UNOBSERVED)

            states.append(state.astype("uint8"))
            confounders.append(lookalikes(comp, i, seen & ~onset & ~dug & ~digging, c))
            scores.append(frac.where(digging, 0).astype("float32"))
            dug = dug | digging
            low = xr.where(seen, np.fmin(low, now.ndvi), low)

        periods = comp.period.isel(period=slice(n_baseline, n))
        return Detection(
            state=xr.concat(states, dim=periods).rename("state"),
            confounder=xr.concat(confounders, dim=periods).rename("confounder"),
            score=xr.concat(scores, dim=periods).rename("score"),
            thresholds={k: v.isel(period=slice(n_baseline, n)) for k, v in edge_thresholds.items()},
        )


def spoil_share(comp: xr.Dataset, observed: xr.DataArray, c) -> xr.DataArray:
    """Per period, the share of clear views that showed spoil; 1 on pit water (water in most
    views within 20 m of ground that is mostly spoil); NaN where the pixel was not observed."""
    pits = (comp["water_frac"] >= c.active_fraction) & dilate(
        comp["spoil_frac"] >= c.active_fraction, 2
    )
    return comp["spoil_frac"].where(~pits, 1.0).where(observed)


def edge_candidates(comp: xr.Dataset, observed: xr.DataArray, n_baseline: int, c
                    ) -> tuple[xr.DataArray, dict[str, xr.DataArray]]:
    """Per period, pixels that pass the relaxed (edge) test of digging, and its thresholds.

    A mixed pixel at a site's border is part spoil: its NDVI is below the period's edge
    threshold (:func:`geomon.detect.thresholds.edge_ndvi`) and at least ``ndvi_drop`` below its
    highest baseline NDVI, though too few of its views pass the per-view spoil test; and it has
    the colour of spoil, no redder than the period's threshold
    (:func:`geomon.detect.thresholds.edge_redness`), so a laterite road or a field along a site
    is not taken in; water (NDVI below 0: a pit) needs no colour test. Ground bare already at
    the baseline does not pass: it is old digging or bare land, and growing into it would add
    abandoned pits. ``comp`` holds the composites with ``ndvi`` and ``spoil_frac``.

    Returns
    -------
    tuple
        Boolean ``(period, y, x)`` candidates (lazy), and the ``(period,)`` thresholds
        ``{"edge_ndvi": ..., "edge_redness": ...}`` (lazy).
    """
    ndvi_now = comp.ndvi.where(observed)
    ref = ndvi_now.isel(period=slice(0, n_baseline)).max("period", skipna=True)
    threshold = edge_ndvi(ndvi_now, c)
    dropped = (ref - ndvi_now) >= c.ndvi_drop
    red = redness(comp).where(observed)
    red_max = edge_redness(red, observed & (comp["spoil_frac"] >= c.active_fraction), c)
    water = ndvi_now < 0  # pit water: turbid water is as red as its sediment, and is digging
    candidates = observed & (ndvi_now < threshold) & dropped & ((red <= red_max) | water)
    return candidates, {"edge_ndvi": threshold, "edge_redness": red_max}


def recover_edges(new: xr.DataArray, active: xr.DataArray, candidates: xr.DataArray,
                  dug: xr.DataArray, c) -> tuple[xr.DataArray, xr.DataArray]:
    """Grow one period's digging by up to ``edge_px`` pixels into edge ``candidates``.

    Parameters
    ----------
    new, active
        This period's new and active digging (disjoint), ``(y, x)`` booleans.
    candidates
        Pixels that pass the relaxed test (:func:`edge_candidates`).
    dug
        Ground dug before this period: reached from new digging, it is active, not new.
    c
        :class:`geomon.config.DetectionConfig` (``edge_px``).

    Returns
    -------
    tuple of xarray.DataArray
        New and active digging with their recovered edges (8-connected growth).
    """
    if c.edge_px <= 0:
        return new, active
    grown_new = grow_within(new, candidates & ~dug & ~active, c.edge_px)
    grown = grow_within(new | active, candidates, c.edge_px)
    return grown_new, grown & ~grown_new


def unconfirmed_front(new: xr.DataArray, onset: xr.DataArray, c) -> xr.DataArray:
    """Onset pixels no later period confirms yet, within ``edge_px`` of this period's new digging.

    A new site that grows through the last period seen has a front dug in its last few views:
    spoil in fewer than ``unconfirmed_fraction`` of the period's views, with no later view to
    confirm it. Next to new digging that passed the test, those pixels are the site growing, not
    a misread cloud edge, so they join it. Only new digging grows this way, and only into fresh
    ground (:data:`FRESH_SPOIL`): dry bare ground passes the spoil test now and then in every
    season, and a few such views in the last period must not grow a site out of it.

    Parameters
    ----------
    new
        This period's new digging, ``(y, x)`` boolean.
    onset
        Pixels with spoil in at least ``onset_fraction`` of this period's views that no later
        clear period confirms yet, fresh ground (spoil in under :data:`FRESH_SPOIL` of every
        earlier period's views), not dug before.
    c
        :class:`geomon.config.DetectionConfig` (``edge_px``).

    Returns
    -------
    xarray.DataArray
        The front pixels (boolean, ``new`` excluded).
    """
    return grow_within(new, onset, c.edge_px) & ~new


def old_digging(earlier: xr.DataArray, c) -> xr.DataArray:
    """Ground dug before: mostly spoil in an earlier period, and on average since.

    Real digging shows spoil in every season; dry bare ground passes the spoil test in most views
    of a dry season now and then and in few of the wet ones. From the first period in which a
    pixel was mostly spoil (``active_fraction`` of its views) to the last of ``earlier``, its
    spoil share averaged over the periods it was seen must stay at ``active_fraction``.

    Parameters
    ----------
    earlier
        :func:`spoil_share` of the periods before this one, ``(period, y, x)``, NaN where unseen.
    c
        :class:`geomon.config.DetectionConfig` (``active_fraction``).

    Returns
    -------
    xarray.DataArray
        Boolean ``(y, x)``, lazy.

    Examples
    --------
    >>> import xarray as xr
    >>> from geomon.config import DetectionConfig
    >>> shares = xr.DataArray([[0.0, 0.0], [0.7, 0.6], [0.9, 0.1], [0.8, 0.2]],
    ...                       dims=("period", "x"))
    >>> old_digging(shares, DetectionConfig()).values.tolist()
    [True, False]
    """
    mostly = earlier >= c.active_fraction
    since = mostly.cumsum("period") > 0
    return mostly.any("period") & (earlier.where(since).mean("period", skipna=True)
                                   >= c.active_fraction)


def old_ground(ndvi_now: xr.DataArray, lowest: xr.DataArray, dug_before: xr.DataArray, c
               ) -> xr.DataArray:
    """Ground dug before that is bare now and not greening: pits and thin spoil of old digging.

    Inside a site that goes on, the wet, dull margins of pits and thinly spread spoil fail the
    per-view spoil test, yet they are part of the site; detectors grow active digging into such
    ground by up to ``edge_px`` pixels. Abandoned ground regrows, and is not taken in.

    Parameters
    ----------
    ndvi_now
        This period's NDVI composite, ``(y, x)``.
    lowest
        Each pixel's lowest NDVI before this period (regrowth is measured from it).
    dug_before
        Pixels seen this period that were old digging at the baseline (:func:`old_digging` of
        the baseline periods).
    c
        :class:`geomon.config.DetectionConfig` (``ndvi_bare``, ``reveg_ndvi_rise``).
    """
    greening = (ndvi_now - lowest) > c.reveg_ndvi_rise
    return dug_before & ~greening & (ndvi_now < c.ndvi_bare)


def lookalikes(comp: xr.Dataset, i: int, quiet: xr.DataArray, c) -> xr.DataArray:
    """:data:`CONFOUNDER_CODES` of period ``i`` where ``quiet`` (seen, not digging).

    ``comp`` holds the composites with ``ndvi``, ``nbr``, ``mndwi`` and ``bsi``. Against each
    pixel's best earlier period: a dark NDVI drop with a falling burn ratio is a fire scar; bare
    soil that is not gravel-bright is a cleared field; new water is flooding.
    """
    now = comp.isel(period=i, drop=True)
    earlier = comp.isel(period=slice(0, i))
    ref_ndvi, ref_nbr, ref_mndwi = (earlier[v].max("period", skipna=True)
                                    for v in ("ndvi", "nbr", "mndwi"))
    drop = (ref_ndvi - now.ndvi) >= c.ndvi_drop
    fire = quiet & drop & ((ref_nbr - now.nbr) > 0.2) & (now.swir16 < c.bright_swir16)
    field = quiet & drop & ~fire & (now.ndvi < c.ndvi_bare) & (now.bsi > 0)
    flood = quiet & ~fire & (now.mndwi > 0) & (ref_mndwi < 0)
    return (fire.astype("uint8") + field.astype("uint8") * 2
            + flood.astype("uint8") * 3).astype("uint8")


def drainage(comp: xr.Dataset, observed: xr.DataArray) -> xr.DataArray:
    """Streams as the imagery shows them: open water, or gallery forest green in every period;
    and, where the composites carry ``dem_streams`` (see :mod:`geomon.dem`), as a DEM shows them.
    """
    evergreen = comp.ndvi.where(observed).min("period", skipna=True) >= 0.55
    water = (comp["water_frac"].where(observed) >= 0.5).mean("period") >= 0.5
    streams = evergreen | water
    return streams | comp["dem_streams"] if "dem_streams" in comp else streams


def goes_on(comp: xr.Dataset, spoil: xr.DataArray, observed: xr.DataArray, c, *, first: int
            ) -> list[xr.DataArray]:
    """Per period from ``first``: does digging on the pixel go on into the next period seen?

    It does when the pixel is still mostly spoil there (``active_fraction`` of its views) and its
    NDVI there is not ``reveg_ndvi_rise`` above its lowest so far (the detector's own test of
    regrowth); with no later period seen yet, when this period is mostly spoil
    (``unconfirmed_fraction``). Spoil left by a site abandoned just before
    the assessment looks fresh for a period, then greens: digging older than the assessment
    counts as active only while it goes on, as new digging must persist.

    Parameters
    ----------
    comp
        Composites with ``ndvi``.
    spoil
        :func:`spoil_share` of each period (NaN where unobserved).
    observed
        Pixels seen clearly enough in each period.
    c
        :class:`geomon.config.DetectionConfig`.
    first
        First assessed period's index.

    Returns
    -------
    list of xarray.DataArray
        Boolean ``(y, x)`` per period from ``first``, lazy.
    """
    ndvi = comp.ndvi.where(observed)
    out = []
    pairs = zip(next_seen(spoil, first=first), next_seen(ndvi, first=first), strict=True)
    for i, (spoil_next, ndvi_next) in enumerate(pairs, start=first):
        lowest = ndvi.isel(period=slice(0, i + 1)).min("period", skipna=True)
        greener = (ndvi_next - lowest) > c.reveg_ndvi_rise
        confirmed = (spoil_next >= c.active_fraction) & ~greener
        unconfirmed = spoil_next.isnull() & (spoil.isel(period=i, drop=True)
                                             >= c.unconfirmed_fraction)
        out.append(confirmed | unconfirmed)
    return out


def next_seen(values: xr.DataArray, *, first: int) -> list[xr.DataArray]:
    """Per period from ``first``: the pixel's value in the next later period where it is not NaN.

    Looks past periods in which the pixel was not seen (a wet season) to the next one that was.
    Float32, NaN where it is never seen again (the last period cannot be confirmed yet).
    """
    n = values.sizes["period"]
    upcoming = xr.full_like(values.isel(period=0, drop=True), np.nan, dtype="float32")
    out = []
    for i in range(n - 1, first - 1, -1):
        out.append(upcoming)
        v = values.isel(period=i, drop=True)
        upcoming = xr.where(v.isnull(), upcoming, v.astype("float32"))
    return out[::-1]


def persists_when_next_seen(spoil: xr.DataArray, fraction: float, *, first: int
                             ) -> list[xr.DataArray]:
    """Per period from ``first``: is the pixel still mostly spoil the next time it is seen?

    Float 1/0, NaN where it is never seen again (see :func:`next_seen`).
    """
    return [(v >= fraction).astype("float32").where(v.notnull())
            for v in next_seen(spoil, first=first)]
