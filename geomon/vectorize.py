"""Polygons from per-period rasters: one feature per disturbed patch, with its history.

A *site* is a connected patch (8-connectivity) of pixels that were digging in any assessed period.
Its ``first_seen`` is the start of the first period in which any of its pixels was new or active,
``periods`` the periods in which any of them was, and ``status`` what it was in the last period.
Long thin patches (a few pixels wide, many times longer) are roads, not digging.
Its ``confidence`` is the calibrated probability that it is real digging, for the detection
``method`` that mapped it (see :mod:`geomon.confidence`; ``confidence_basis`` says which
calibration, or ``heuristic`` when the method has none). Its ``texture``, when the pipeline
passes one, is the mean :func:`geomon.texture.texture` of its pixels in the periods they were
flagged: pitted digging is rough, cleared fields smooth (burn scars and flood margins are
rough too; see :mod:`geomon.texture`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely
from affine import Affine
from scipy import ndimage
from shapely.geometry import shape
from shapely.ops import unary_union

from geomon.confidence import heuristic_confidence, site_confidence
from geomon.detect._base import CONFOUNDER_CODES

__all__ = ["MAX_PIT_HA", "PeriodArea", "Sites", "fill_pits", "vectorize"]

_EIGHT = np.ones((3, 3), bool)


@dataclass(frozen=True)
class PeriodArea:
    """Mapped area of digging in one period, in hectares."""

    period: str
    start: date
    end: date
    new_ha: float
    active_ha: float
    cumulative_ha: float


@dataclass(frozen=True)
class Sites:
    """The vector result of a run, in the AOI's UTM CRS."""

    mining: gpd.GeoDataFrame
    confounders: gpd.GeoDataFrame
    areas: list[PeriodArea]
    #: Per mining site (index ``id``): the features its confidence was computed from
    #: (``mean_score``, ``persistence``, ``area_ha``, ``n_periods``, ``seen_starting``), its
    #: ``texture`` and the uncalibrated ``heuristic`` score; what
    #: ``benchmarks/calibrate_confidence.py`` fits on.
    features: pd.DataFrame | None = None


def vectorize(
    state: np.ndarray,
    confounder: np.ndarray,
    score: np.ndarray,
    *,
    transform: Affine,
    crs: str,
    periods: Sequence[tuple[str, date, date]],
    aoi_id: str,
    min_mapping_unit_ha: float,
    min_old_site_ha: float | None = None,
    method: str | None = None,
    texture: np.ndarray | None = None,
) -> Sites:
    """Turn (period, y, x) rasters into site polygons and per-period areas.

    Parameters
    ----------
    state, confounder, score
        Computed detector output (see :class:`geomon.detect.Detection`).
    transform, crs
        Grid of the rasters.
    periods
        ``(label, start, end)`` of each raster period, in order.
    min_mapping_unit_ha
        Smallest site kept.
    min_old_site_ha
        Smallest site kept among those never seen starting (no new-digging pixel: digging older
        than the assessment, known only by its bare gravel, so it needs more evidence).
    method
        Detection method that made the rasters: selects the confidence calibration
        (:func:`geomon.confidence.site_confidence`); ``None`` or a method without one gives the
        uncalibrated heuristic, flagged ``confidence_basis = "heuristic"``.
    texture
        ``(y, x)`` float texture of each pixel where it was flagged (NaN elsewhere): each site's
        and look-alike's mean goes into its ``texture`` property (None without it).
    """
    pixel_ha = abs(transform.a * transform.e) / 1e4
    min_px = max(1, int(np.ceil(min_mapping_unit_ha / pixel_ha - 1e-9)))
    min_old_px = max(min_px, int(np.ceil((min_old_site_ha or 0) / pixel_ha - 1e-9)))
    digging = (state == 1) | (state == 2)
    footprint = ((state >= 1) & (state <= 3)).any(axis=0)
    labels, n = ndimage.label(footprint, structure=_EIGHT)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    # per label and period: any pixel new/active; per label: mean score of its digging pixels
    active = np.stack(
        [np.bincount(labels[p], minlength=n + 1) > 0 for p in digging], axis=0
    )  # (period, label)
    seen_starting = np.bincount(labels[(state == 1).any(axis=0)], minlength=n + 1) > 0
    last = state[-1]
    last_counts = {
        code: np.bincount(labels[(last == code)], minlength=n + 1) for code in (1, 2, 3)
    }
    score_sum = np.bincount(labels.ravel(), weights=(score.max(axis=0)).ravel(), minlength=n + 1)
    site_texture = _mean_by_label(texture, labels, n)
    # share of each patch that survives an opening 3 px (30 m) wide: near 0 for roads and tracks
    body = ndimage.binary_opening(footprint, structure=np.ones((3, 3), bool))
    body_share = np.bincount(labels[body], minlength=n + 1) / np.maximum(sizes, 1)
    thin = body_share < 0.3
    polys = _polygons(labels, transform)
    roads = {lab: (g, site_texture[lab]) for lab, g in polys.items()
             if sizes[lab] >= min_px and (thin[lab] or _is_linear(g))}

    rows, keep = [], np.zeros(n + 1, bool)
    for lab in range(1, n + 1):
        if sizes[lab] < min_px or not active[:, lab].any() or lab not in polys:
            continue
        if not seen_starting[lab] and sizes[lab] < min_old_px:
            continue
        if lab in roads:
            continue
        geom = polys[lab]
        seen = [i for i in range(len(periods)) if active[i, lab]]
        if last_counts[1][lab] + last_counts[2][lab] > 0:
            status = "active"
        elif last_counts[3][lab] > 0:
            status = "revegetating"
        else:
            status = "inactive"
        persistence = len(seen) / max(1, len(periods) - seen[0])
        keep[lab] = True
        rows.append(
            {
                "aoi": aoi_id,
                "class": "mining",
                "first_seen": periods[seen[0]][1].isoformat(),
                "last_seen": periods[seen[-1]][1].isoformat(),
                "status": status,
                "area_ha": round(sizes[lab] * pixel_ha, 4),
                "periods": [periods[i][1].isoformat() for i in seen],
                "geometry": geom,
                "mean_score": float(score_sum[lab] / sizes[lab]),
                "persistence": persistence,
                "n_periods": len(seen),
                "seen_starting": bool(seen_starting[lab]),
                "texture": site_texture[lab],
            }
        )
    rows.sort(key=lambda r: (r["first_seen"], -r["area_ha"]))
    for k, r in enumerate(rows, 1):
        r["id"] = f"{aoi_id}-{k:04d}"
    features = pd.DataFrame(rows, columns=["id", *_FEATURE_COLUMNS]).set_index("id")
    features["heuristic"] = heuristic_confidence(features["mean_score"], features["persistence"])
    confidence, basis = site_confidence(features, method)
    for r, c in zip(rows, confidence, strict=True):
        r["confidence"] = round(float(c), 3)
        r["confidence_basis"] = basis
    mining = gpd.GeoDataFrame(rows, columns=[*_MINING_COLUMNS, "geometry"], crs=crs)

    kept = keep[labels]
    areas, cumulative = [], 0.0
    for i, (label, start, end) in enumerate(periods):
        new_ha = float(((state[i] == 1) & kept).sum() * pixel_ha)
        active_ha = float((digging[i] & kept).sum() * pixel_ha)
        cumulative += new_ha
        areas.append(PeriodArea(label, start, end, new_ha, active_ha, cumulative))

    confounders = _confounders(
        confounder, footprint & kept, transform=transform, crs=crs, periods=periods,
        aoi_id=aoi_id, min_px=min_px, roads=list(roads.values()), texture=texture,
    )
    return Sites(mining=mining, confounders=confounders, areas=areas, features=features)


#: Holes in a digging patch up to this size (pits, ponds, a missed pixel) belong to the site.
MAX_PIT_HA = 0.5


def fill_pits(state: np.ndarray, *, pixel_ha: float, max_ha: float = MAX_PIT_HA) -> np.ndarray:
    """Per period, give small holes enclosed by digging the state of the digging around them.

    Water-filled pits in the middle of a site are part of the site, but their spectrum is water,
    not spoil. A hole takes code 1 (new) when new digging alone encloses it, else 2 (active).
    The pipeline applies this to the detector's rasters before it writes or vectorises them.
    """
    max_px = round(max_ha / pixel_ha)
    out = state.copy()
    for p in range(state.shape[0]):
        digging = np.isin(state[p], (1, 2))
        holes, n = ndimage.label(ndimage.binary_fill_holes(digging) & ~digging)
        if n == 0:
            continue
        small = np.bincount(holes.ravel(), minlength=n + 1) <= max_px
        small[0] = False
        fill = small[holes]
        in_new = ndimage.binary_fill_holes(state[p] == 1)
        out[p][fill] = np.where(in_new[fill], 1, 2)
    return out


_MINING_COLUMNS = [
    "id", "aoi", "class", "first_seen", "last_seen", "status", "area_ha", "confidence",
    "confidence_basis", "texture", "periods",
]
_FEATURE_COLUMNS = ["mean_score", "persistence", "area_ha", "n_periods", "seen_starting",
                    "texture"]


def _mean_by_label(values: np.ndarray | None, labels: np.ndarray, n: int) -> list[float | None]:
    """Mean of the finite ``values`` under each label 0..n, rounded; None where there are none
    (or no ``values``)."""
    if values is None:
        return [None] * (n + 1)
    finite = np.isfinite(values)
    total = np.bincount(labels[finite], weights=values[finite], minlength=n + 1)
    count = np.bincount(labels[finite], minlength=n + 1)
    return [round(float(t / c), 4) if c else None for t, c in zip(total, count, strict=True)]


def _polygons(labels: np.ndarray, transform: Affine) -> dict[int, object]:
    parts: dict[int, list] = {}
    for geom, value in rasterio.features.shapes(
        labels.astype("int32"), mask=labels > 0, connectivity=8, transform=transform
    ):
        parts.setdefault(int(value), []).append(shape(geom))
    # rings of pixel outlines can touch themselves at diagonal corners: repair, keep polygons
    return {k: shapely.make_valid(v[0] if len(v) == 1 else unary_union(v), method="structure",
                                  keep_collapsed=False) for k, v in parts.items()}


def _is_linear(geom) -> bool:
    """A patch at most 30 m wide and at least six times longer than wide: a road or track."""
    rect = geom.minimum_rotated_rectangle
    xs, ys = rect.exterior.coords.xy
    sides = sorted({round(np.hypot(xs[i + 1] - xs[i], ys[i + 1] - ys[i]), 3) for i in range(4)})
    width, length = sides[0], sides[-1]
    thin = geom.area / max(rect.area, 1e-9)
    return (width <= 30.0 and length >= 6 * width) or (length >= 200 and thin < 0.25 and
                                                       geom.area / length <= 30.0)


def _confounders(
    confounder: np.ndarray,
    exclude: np.ndarray,
    *,
    transform: Affine,
    crs: str,
    periods: Sequence[tuple[str, date, date]],
    aoi_id: str,
    min_px: int,
    roads: list[tuple[object, float | None]],
    texture: np.ndarray | None,
) -> gpd.GeoDataFrame:
    rows = []
    for code, kind in CONFOUNDER_CODES.items():
        if code in (0, 4):
            continue
        hit = (confounder == code) & ~exclude
        mask = hit.any(axis=0)
        labels, n = ndimage.label(mask, structure=_EIGHT)
        if n == 0:
            continue
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        when = np.stack([np.bincount(labels[h], minlength=n + 1) > 0 for h in hit], axis=0)
        rough = _mean_by_label(texture, labels, n)
        for lab, geom in _polygons(labels, transform).items():
            if sizes[lab] < min_px:
                continue
            seen = [i for i in range(len(periods)) if when[i, lab]]
            rows.append(_confounder_row(kind, aoi_id, geom, sizes[lab], transform, periods, seen,
                                        rough[lab]))
    for geom, rough_road in roads:
        rows.append(_confounder_row("road", aoi_id, geom, None, transform, periods, [],
                                    rough_road))
    for k, r in enumerate(rows, 1):
        r["id"] = f"{aoi_id}-c{k:04d}"
    cols = ["id", "aoi", "class", "first_seen", "last_seen", "area_ha", "texture", "periods",
            "geometry"]
    return gpd.GeoDataFrame(rows, columns=cols, crs=crs)


def _confounder_row(kind, aoi_id, geom, npx, transform, periods, seen, texture) -> dict:
    area = geom.area / 1e4 if npx is None else npx * abs(transform.a * transform.e) / 1e4
    return {
        "aoi": aoi_id,
        "class": kind,
        "first_seen": periods[seen[0]][1].isoformat() if seen else None,
        "last_seen": periods[seen[-1]][1].isoformat() if seen else None,
        "area_ha": round(float(area), 4),
        "texture": texture,
        "periods": [periods[i][1].isoformat() for i in seen],
        "geometry": geom,
    }
