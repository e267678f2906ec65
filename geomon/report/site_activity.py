"""What each digging site was doing in each period: opened, dug again, idle or revegetating.

A site's ``periods`` (DESIGN.md section 4) say when it was dug; the per-period state rasters add
how much of it was new, dug or revegetating, in hectares, by rasterising the site polygons back
onto the grid they were traced from (the polygons follow pixel edges, so this is exact). Small
pits enclosed by digging count as digging, exactly as :func:`geomon.vectorize.vectorize` counts
them for ``areas.csv``, so per-site hectares add up to the per-period areas.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import rasterio.features
from affine import Affine

__all__ = ["MAP_STATES", "SiteHistory", "site_history", "site_labels", "site_state"]

#: What a site can be doing in a period, as maps show it. ``later``: not dug yet (first seen in a
#: later period; only site maps show these, as an outline for comparison).
MAP_STATES = ("new", "active", "inactive", "revegetating", "later")


def site_state(first_seen: str, periods: list[str], period_start: str, *,
               revegetating: bool = False) -> str:
    """A site's state in the period starting ``period_start`` (ISO dates compare as text).

    ``new``: first dug in this period; ``active``: dug in this period and before; ``inactive``:
    dug before, not in this period; ``revegetating``: as inactive, with regrowth seen;
    ``later``: first dug after this period.
    """
    if period_start < first_seen:
        return "later"
    if period_start in periods:
        return "new" if period_start == first_seen else "active"
    return "revegetating" if revegetating else "inactive"


def site_labels(mining: gpd.GeoDataFrame, shape: tuple[int, int], transform: Affine
                ) -> np.ndarray:
    """int32 raster on the grid: ``k + 1`` where row ``k`` of ``mining`` is, 0 elsewhere.

    ``mining`` must be in the grid's CRS.
    """
    if not len(mining):
        return np.zeros(shape, "int32")
    return rasterio.features.rasterize(
        ((g, k + 1) for k, g in enumerate(mining.geometry)), out_shape=shape,
        transform=transform, fill=0, dtype="int32",
    )


@dataclass(frozen=True)
class SiteHistory:
    """Hectares per site (rows, in the order of ``ids``) and assessed period (columns).

    Attributes
    ----------
    new_ha
        Ground first disturbed in that period (state 1).
    digging_ha
        Ground dug in that period, new or continued (state 1 or 2): what ``active_ha`` in
        ``areas.csv`` sums.
    revegetating_ha
        Ground with regrowth in that period (state 3).
    """

    ids: list[str]
    labels: list[str]
    new_ha: np.ndarray
    digging_ha: np.ndarray
    revegetating_ha: np.ndarray

    def states(self, mining: gpd.GeoDataFrame, period: int, start: str) -> list[str]:
        """:func:`site_state` of every row of ``mining`` (the rows of ``ids``) in one period.

        ``period`` is the column, ``start`` that period's first day (ISO date).
        """
        return [
            site_state(r["first_seen"], list(r["periods"]), start,
                       revegetating=bool(self.revegetating_ha[k, period] > 0))
            for k, (_, r) in enumerate(mining.iterrows())
        ]


def site_history(mining: gpd.GeoDataFrame, state: np.ndarray, transform: Affine,
                 labels: list[str]) -> SiteHistory:
    """Per-site, per-period hectares from ``state`` (``(period, y, x)`` uint8, assessed periods,
    pits already filled by the pipeline, see :func:`geomon.vectorize.fill_pits`).

    ``mining`` must be in the grid's CRS.
    """
    n = len(mining)
    pixel_ha = abs(transform.a * transform.e) / 1e4
    lab = site_labels(mining, state.shape[1:], transform)
    counts = {code: np.zeros((n, len(labels))) for code in (1, 2, 3)}
    for i in range(len(labels)):
        for code in (1, 2, 3):
            counts[code][:, i] = np.bincount(lab[state[i] == code], minlength=n + 1)[1:]
    return SiteHistory(
        ids=[str(x) for x in mining["id"]] if n else [], labels=list(labels),
        new_ha=counts[1] * pixel_ha, digging_ha=(counts[1] + counts[2]) * pixel_ha,
        revegetating_ha=counts[3] * pixel_ha,
    )
