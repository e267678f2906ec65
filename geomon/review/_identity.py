"""Site identity across runs: which site of a new run is which site already known.

The rule (in the AOI's UTM CRS, so in metres): a new polygon *N* and a known polygon *K* are the
same ground when the part of *N* within one pixel (10 m) of *K* covers at least half of the
smaller of the two,

    area(N ∩ buffer(K, 10 m)) ≥ 0.5 × min(area(N), area(K)).

The 10 m tolerance is Sentinel-2's geolocation accuracy (about one pixel): without it a 0.1 ha
site (about 30 m across) shifted one pixel diagonally would keep only 44% of its area in place
and lose its identity. Sites more than 10 m apart never count as overlapping.

From the overlaps, each new polygon is:

``same``
    it overlaps one known site, and that site overlaps no other new polygon: it keeps the key;
``split``
    it overlaps one known site that also overlaps other new polygons: each part gets a new key
    whose parent is the old one, so each part inherits the old key's review history;
``merge``
    it overlaps several known sites: a new key whose parents are all of them, so the merged site
    carries every one of their histories;
``new``
    it overlaps nothing known: a new key with no history.

A known site that nothing overlaps stays as it is (it may be seen again in a later run).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

__all__ = ["MIN_OVERLAP", "TOLERANCE_M", "Match", "match_sites", "overlap_share", "polygonal"]

#: Share of the smaller polygon that must overlap for two polygons to be the same site.
MIN_OVERLAP = 0.5

#: Distance (m) within which a new polygon counts as on a known one: one Sentinel-2 pixel.
TOLERANCE_M = 10.0


@dataclass(frozen=True)
class Match:
    """What one new polygon is, relative to the known sites.

    Attributes
    ----------
    index
        Position of the polygon in the new run.
    kind
        ``same``, ``split``, ``merge`` or ``new`` (see the module docs).
    parents
        Keys of the known sites it overlaps (sorted); for ``same`` the one key it keeps.
    """

    index: int
    kind: str
    parents: tuple[str, ...]


def polygonal(geom: BaseGeometry) -> BaseGeometry:
    """``geom`` as a valid (Multi)Polygon of the same area.

    Polygons traced from pixels with 8-connectivity touch themselves at diagonal corners (an
    invalid ring for GEOS); repairing them keeps their area and makes overlays reliable.
    """
    if geom.is_valid:
        return geom
    fixed = shapely.make_valid(geom)
    if fixed.geom_type in ("Polygon", "MultiPolygon"):
        return fixed
    parts = [g for g in getattr(fixed, "geoms", [fixed])
             if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else fixed


def overlap_share(new: BaseGeometry, known: BaseGeometry, *,
                  tolerance_m: float = TOLERANCE_M) -> float:
    """Area of ``new`` within ``tolerance_m`` of ``known``, as a share of the smaller polygon."""
    smaller = min(new.area, known.area)
    if smaller <= 0:
        return 0.0
    near = known.buffer(tolerance_m) if tolerance_m > 0 else known
    return float(new.intersection(near).area / smaller)


def match_sites(
    new: Sequence[BaseGeometry],
    known: Mapping[str, BaseGeometry],
    *,
    min_overlap: float = MIN_OVERLAP,
    tolerance_m: float = TOLERANCE_M,
) -> list[Match]:
    """Match new polygons to known sites (all in one projected CRS, metres).

    Parameters
    ----------
    new
        Polygons of the new run, in order.
    known
        The latest polygon of every known, current site, by key.
    min_overlap
        Share of the smaller polygon that must overlap.
    tolerance_m
        How far from a known polygon still counts as on it.

    Returns
    -------
    list of Match
        One per new polygon, in order.
    """
    keys = list(known)
    new = [polygonal(g) for g in new]
    parents: list[list[str]] = [[] for _ in new]
    if keys and len(new):
        near = [polygonal(known[k]).buffer(tolerance_m) if tolerance_m > 0
                else polygonal(known[k]) for k in keys]
        tree = shapely.STRtree(near)
        left, right = tree.query(np.asarray(list(new), dtype=object), predicate="intersects")
        for i, j in zip(left.tolist(), right.tolist(), strict=True):
            smaller = min(new[i].area, known[keys[j]].area)
            if smaller > 0 and new[i].intersection(near[j]).area >= min_overlap * smaller:
                parents[i].append(keys[j])
    children: dict[str, int] = {}
    for ps in parents:
        for k in ps:
            children[k] = children.get(k, 0) + 1
    out = []
    for i, ps in enumerate(parents):
        ps = sorted(ps)
        if not ps:
            kind = "new"
        elif len(ps) > 1:
            kind = "merge"
        elif children[ps[0]] > 1:
            kind = "split"
        else:
            kind = "same"
        out.append(Match(index=i, kind=kind, parents=tuple(ps)))
    return out
