"""Human review of detected sites: packages for reviewers, a local review app, a review store
that keeps every decision, and what reviews change downstream.

Sites keep a stable ``site_key`` across runs (matched by overlap, see
:mod:`geomon.review._identity`); decisions are kept in an append-only SQLite store (see
:mod:`geomon.review._store`). See ``docs/review.md``.

Examples
--------
>>> from geomon.review import apply_reviews, export_package            # doctest: +SKIP
>>> pkg = export_package("outputs/sample/20261128T124025Z-cc8b")       # doctest: +SKIP
>>> sites = apply_reviews(mining, aoi_id="sample", store="outputs/review.sqlite")  # doctest: +SKIP
>>> kept = sites[sites["review_status"] != "rejected"]                 # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from geomon.review._decisions import REVIEW_STATES, STATUSES, Decision, SiteReview
from geomon.review._effects import REVIEW_COLUMNS, apply_reviews, rejected_mask, training_labels
from geomon.review._identity import MIN_OVERLAP, TOLERANCE_M, match_sites
from geomon.review._import import ImportResult, import_decisions
from geomon.review._run import default_store
from geomon.review._store import ReviewStore, SiteIdentity

if TYPE_CHECKING:  # imported on first use: they pull in matplotlib and the report's helpers
    from geomon.review._app import make_server, serve_run
    from geomon.review._fieldvisit import FieldList, field_list
    from geomon.review._package import ReviewPackage, export_package

_LAZY = {
    "make_server": "_app", "serve_run": "_app", "FieldList": "_fieldvisit",
    "field_list": "_fieldvisit", "ReviewPackage": "_package", "export_package": "_package",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"geomon.review.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'geomon.review' has no attribute {name!r}")


__all__ = [
    "MIN_OVERLAP",
    "REVIEW_COLUMNS",
    "REVIEW_STATES",
    "STATUSES",
    "TOLERANCE_M",
    "Decision",
    "FieldList",
    "ImportResult",
    "ReviewPackage",
    "ReviewStore",
    "SiteIdentity",
    "SiteReview",
    "apply_reviews",
    "default_store",
    "export_package",
    "field_list",
    "import_decisions",
    "make_server",
    "match_sites",
    "rejected_mask",
    "serve_run",
    "training_labels",
]
