"""Site ``confidence``: a calibrated probability that a mapped site is real digging.

Definition
----------
A site polygon's ``confidence`` is the probability that **at least half of its area is truth
mining**, i.e. new or active digging (``truth_periods.tif`` codes 1 or 2) in at least one assessed
period; the same pixel definition :func:`geomon.scoring.score_run` scores precision with (see
:func:`geomon.scoring.label_sites`). It is estimated per detection method by a logistic regression
on a few site features (:data:`FEATURES`) fitted on the benchmark's *tuning* seeds only
(``benchmarks/calibrate_confidence.py``, which also reports its reliability on held-out seeds).
The fitted coefficients are package data (``confidence_calibration.json``) with their provenance.

Every coefficient is constrained to be >= 0, so confidence never falls when a site's mean score,
persistence or area grows (monotone non-decreasing in each feature).

For a method with no calibration (a new detector, or ``method=None``) the confidence is the older
uncalibrated heuristic ``clip(0.4 * mean_score + 0.6 * persistence, 0, 1)``, a ranking, not a
probability; :func:`site_confidence` then returns the basis ``"heuristic"`` so outputs can say so
(``confidence_basis`` on each site).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

__all__ = [
    "FEATURES",
    "HEURISTIC",
    "Calibration",
    "feature_matrix",
    "heuristic_confidence",
    "load_calibrations",
    "site_confidence",
]

#: Features a calibration may use, as :func:`feature_matrix` computes them from a site's
#: ``mean_score`` (0–1, mean over the site of each pixel's highest score), ``persistence``
#: (share of the periods from first detection to the last assessed in which it was digging),
#: ``area_ha`` and ``n_periods`` (periods in which it was digging).
FEATURES = ("mean_score", "persistence", "log10_area_ha", "n_periods")
#: Basis of a confidence that is not calibrated.
HEURISTIC = "heuristic"
DATA_FILE = "confidence_calibration.json"


def heuristic_confidence(mean_score, persistence) -> np.ndarray:
    """The uncalibrated score: ``clip(0.4 * mean_score + 0.6 * persistence, 0, 1)``."""
    return np.clip(0.4 * np.asarray(mean_score, float) + 0.6 * np.asarray(persistence, float),
                   0.0, 1.0)


def feature_matrix(sites: Mapping[str, object], names: tuple[str, ...]) -> np.ndarray:
    """``(n_sites, len(names))`` feature values from per-site columns (a dict or DataFrame).

    ``log10_area_ha`` comes from ``area_ha`` (floored at 0.01 ha); the others are read as is.
    """
    cols = []
    for name in names:
        if name == "log10_area_ha":
            cols.append(np.log10(np.maximum(np.asarray(sites["area_ha"], float), 0.01)))
        elif name in FEATURES:
            cols.append(np.asarray(sites[name], float))
        else:
            raise ValueError(f"unknown confidence feature {name!r}; known: {FEATURES}")
    return np.column_stack(cols) if cols else np.zeros((0, 0))


@dataclass(frozen=True)
class Calibration:
    """Logistic calibration of one method: ``p = 1 / (1 + exp(-(intercept + x · coef)))``.

    ``coefficients`` are in the features' own units (not standardised).
    """

    method: str
    features: tuple[str, ...]
    coefficients: tuple[float, ...]
    intercept: float
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        if len(self.features) != len(self.coefficients):
            raise ValueError("one coefficient per feature")
        if any(c < 0 for c in self.coefficients):
            raise ValueError("confidence calibrations are monotone: coefficients must be >= 0")

    def predict(self, sites: Mapping[str, object]) -> np.ndarray:
        """Probability per site (rows of ``sites``' columns)."""
        x = feature_matrix(sites, self.features)
        z = self.intercept + x @ np.asarray(self.coefficients, float)
        return 1.0 / (1.0 + np.exp(-z))

    @property
    def basis(self) -> str:
        """``calibrated:<method>:<fitted date>``, the value of ``confidence_basis``."""
        return f"calibrated:{self.method}:{self.provenance.get('fitted', 'unknown')}"

    def to_dict(self) -> dict:
        return {"features": list(self.features), "coefficients": list(self.coefficients),
                "intercept": self.intercept, "provenance": self.provenance}

    @classmethod
    def from_dict(cls, method: str, doc: dict) -> Calibration:
        return cls(method=method, features=tuple(doc["features"]),
                   coefficients=tuple(float(c) for c in doc["coefficients"]),
                   intercept=float(doc["intercept"]), provenance=dict(doc.get("provenance", {})))


def load_calibrations(path: str | Path | None = None) -> dict[str, Calibration]:
    """Calibrations per method from ``path``, else from the package's data file."""
    if path is None:
        return dict(_packaged())
    return _read(Path(path).read_text())


@cache
def _packaged() -> dict[str, Calibration]:
    ref = resources.files("geomon").joinpath(DATA_FILE)
    if not ref.is_file():
        log.warning("geomon/%s is missing: site confidence is uncalibrated", DATA_FILE)
        return {}
    return _read(ref.read_text())


def _read(text: str) -> dict[str, Calibration]:
    doc = json.loads(text)
    return {m: Calibration.from_dict(m, d) for m, d in doc.get("methods", {}).items()}


def site_confidence(sites: Mapping[str, object], method: str | None, *,
                    calibrations: Mapping[str, Calibration] | None = None
                    ) -> tuple[np.ndarray, str]:
    """Confidence per site and its basis (``calibrated:<method>:<date>`` or ``"heuristic"``).

    ``sites`` has per-site columns ``mean_score``, ``persistence``, ``area_ha``, ``n_periods``.
    A method without a calibration falls back to :func:`heuristic_confidence`.
    """
    cals = load_calibrations() if calibrations is None else calibrations
    cal = cals.get(method) if method is not None else None
    if cal is None:
        if method is not None:
            log.info("no confidence calibration for method %r: confidence is the uncalibrated "
                     "heuristic", method)
        return heuristic_confidence(sites["mean_score"], sites["persistence"]), HEURISTIC
    return cal.predict(sites), cal.basis
