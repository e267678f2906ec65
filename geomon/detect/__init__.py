"""Change detection: per-period rasters of digging, and of what only looks like it.

A detector takes per-period composites (dims ``period, y, x``; the first ``n_baseline`` periods are
the baseline) and returns a :class:`Detection`: ``state`` codes per assessed period for mining and
``confounder`` codes for look-alikes, both lazy.
"""

from __future__ import annotations

from geomon.detect._base import (
    CONFOUNDER_CODES,
    STATE_CODES,
    Detection,
    Detector,
)
from geomon.detect.harmonic import HarmonicDetector
from geomon.detect.naive import NaiveNdviDetector
from geomon.detect.rules import RulesDetector

__all__ = [
    "CONFOUNDER_CODES",
    "STATE_CODES",
    "Detection",
    "Detector",
    "HarmonicDetector",
    "NaiveNdviDetector",
    "RulesDetector",
    "make_detector",
]


def make_detector(config) -> Detector:
    """The detector a pipeline's ``detection`` block selects."""
    if config.method == "rules":
        return RulesDetector(config)
    if config.method == "naive":
        return NaiveNdviDetector(config)
    if config.method == "harmonic":
        return HarmonicDetector(config)
    raise ValueError(f"unknown detection method {config.method!r}")  # pragma: no cover
