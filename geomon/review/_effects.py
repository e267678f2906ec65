"""What reviews change downstream: review columns on a run's sites, training labels, and the
ground that rejected sites take out of production estimates.

How the pipeline uses this (see docs/review.md):

1. after :func:`geomon.vectorize.vectorize`, ``sites = apply_reviews(mining, aoi_id=..., store=...,
   run_id=...)`` gives every site its stable ``site_key`` and review state;
2. the production estimate leaves out ``review_status == "rejected"`` sites: the per-period areas
   are computed again with :func:`rejected_mask` pixels set to "no digging", and the report shows
   both the mapped and the reviewed figures. Sites in ``conflict`` are not rejected and stay in.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio.features
from affine import Affine

from geomon.errors import GeomonError
from geomon.review._decisions import SiteReview
from geomon.review._store import ReviewStore, SiteIdentity

__all__ = ["REVIEW_COLUMNS", "apply_reviews", "rejected_mask", "review_sites", "training_labels"]

#: Columns :func:`apply_reviews` adds.
REVIEW_COLUMNS = ("site_key", "review_status", "reviewer", "reviewed_at")


def review_sites(
    mining: gpd.GeoDataFrame, *, aoi_id: str, store: ReviewStore, run_id: str | None = None
) -> tuple[list[SiteIdentity], dict[str, SiteReview]]:
    """Register a run's sites in ``store`` and return their identities and review states."""
    if mining.crs is None or not mining.crs.is_projected:
        raise GeomonError("sites must be in the AOI's UTM CRS to be matched across runs",
                          field="crs", expected="a projected CRS (metres)")
    if len(mining) and "id" not in mining.columns:
        raise GeomonError("sites need an 'id' column", field="id")
    ids = [str(i) for i in mining["id"]] if len(mining) else []
    identities = store.register(aoi_id, mining.crs.to_string(), list(mining.geometry), ids,
                                run_id=run_id)
    states = store.states(i.site_key for i in identities)
    return identities, states


def apply_reviews(
    mining: gpd.GeoDataFrame,
    *,
    aoi_id: str,
    store: str | Path,
    run_id: str | None = None,
) -> gpd.GeoDataFrame:
    """The run's sites with their stable key and where their review stands.

    Sites are matched to the sites the store already knows by overlap (see
    :mod:`geomon.review._identity`); new ones are given new keys and registered, so call this
    once per run. Calling it again on the same sites returns the same keys.

    Parameters
    ----------
    mining
        The run's mining sites in the AOI's UTM CRS, with the pipeline's columns (``id`` used).
    aoi_id
        The AOI they belong to.
    store
        The review store file (created if missing), e.g. ``<outputs>/review.sqlite``.
    run_id
        The run's id, recorded with each footprint (optional).

    Returns
    -------
    geopandas.GeoDataFrame
        A copy of ``mining`` with ``site_key``, ``review_status`` (``pending``, ``confirmed``,
        ``rejected``, ``needs_field_visit``, or ``conflict`` when reviewers disagree),
        ``reviewer`` (the disagreeing reviewers for a conflict) and ``reviewed_at``
        (ISO 8601 UTC, None when pending).
    """
    identities, states = review_sites(mining, aoi_id=aoi_id, store=ReviewStore(Path(store)),
                                      run_id=run_id)
    out = mining.copy()
    reviews = [states[i.site_key] for i in identities]
    out["site_key"] = [i.site_key for i in identities]
    out["review_status"] = [r.status for r in reviews]
    out["reviewer"] = [r.reviewer for r in reviews]
    out["reviewed_at"] = [r.reviewed_at for r in reviews]
    if not len(out):
        out = out.astype({c: object for c in REVIEW_COLUMNS})
    return out


def training_labels(store: str | Path, aoi_id: str) -> gpd.GeoDataFrame:
    """Reviewed sites as labelled polygons, for training a classifier or calibrating thresholds.

    Every current site key of the AOI (split and merged keys are represented by their parts)
    whose review stands at ``confirmed`` (label 1) or ``rejected`` (label 0); pending, field-visit
    and conflicting sites are left out. Geometry is the key's latest footprint.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``site_key``, ``label``, ``review_status``, ``reviewer``, ``reviewed_at``,
        ``area_ha`` and ``geometry`` in the AOI's UTM CRS; empty (no CRS) for an AOI the store
        does not know.
    """
    st = ReviewStore(Path(store))
    if not Path(store).exists():
        raise GeomonError("no review store here", path=store)
    crs = st.aoi_crs(aoi_id)
    rows = []
    if crs is not None:
        for key, (geom, review) in sorted(st.current_states(aoi_id).items()):
            if review.status in ("confirmed", "rejected"):
                rows.append({"site_key": key, "label": int(review.status == "confirmed"),
                             "review_status": review.status, "reviewer": review.reviewer,
                             "reviewed_at": review.reviewed_at,
                             "area_ha": round(geom.area / 1e4, 4), "geometry": geom})
    cols = ["site_key", "label", "review_status", "reviewer", "reviewed_at", "area_ha",
            "geometry"]
    gdf = gpd.GeoDataFrame(rows, columns=cols, geometry="geometry", crs=crs)
    return gdf.astype({"label": "int64"})


def rejected_mask(
    sites: gpd.GeoDataFrame, *, transform: Affine, shape: tuple[int, int]
) -> np.ndarray:
    """Pixels of the run grid covered by rejected sites (True), to leave out of estimates.

    ``sites`` is the output of :func:`apply_reviews`, in the grid's CRS. Site polygons follow
    pixel edges, so rasterising them (pixel centres) gives back exactly their pixels.
    """
    rejected = sites[sites["review_status"] == "rejected"] if len(sites) else sites
    if not len(rejected):
        return np.zeros(shape, bool)
    return rasterio.features.rasterize(
        [(g, 1) for g in rejected.geometry], out_shape=shape, transform=transform,
        dtype="uint8") > 0
