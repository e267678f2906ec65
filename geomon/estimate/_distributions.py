"""One uncertain parameter: a named distribution with a unit and a source.

Every kind is sampled through its quantile function (inverse CDF): one uniform draw maps to one
value, the P5/P50/P95 of the tornado table come from the same function, and the analytic mean is
known for the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

#: Distribution names accepted in ``parameters.<name>.dist``.
DIST_KINDS = ("fixed", "uniform", "triangular", "lognormal")

#: Keys each kind requires, and optional ones it accepts (besides ``unit``, ``source``, ``note``).
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "fixed": ("value",),
    "uniform": ("min", "max"),
    "triangular": ("min", "mode", "max"),
    "lognormal": ("p5", "p95"),
}
OPTIONAL_KEYS: dict[str, tuple[str, ...]] = {
    "fixed": (),
    "uniform": (),
    "triangular": (),
    "lognormal": ("min", "max"),
}

#: z such that P(Z <= z) = 0.95 for a standard normal: 1.6449.
Z95 = float(ndtri(0.95))


@dataclass(frozen=True)
class Distribution:
    """A parameter distribution, as read from an AOI file or a pipeline.

    Parameters
    ----------
    kind
        ``fixed`` (``value``), ``uniform`` (``min``, ``max``), ``triangular`` (``min``, ``mode``,
        ``max``) or ``lognormal`` (``p5``, ``p95``: the 5th and 95th percentiles of the untruncated
        lognormal; optional ``min``/``max`` truncate it, and the draws are renormalised).
    unit, source
        Free text carried to the outputs; ``source`` says where the numbers come from.

    Examples
    --------
    >>> d = Distribution("triangular", min=0.2, mode=0.6, max=1.5, unit="ct/m3")
    >>> round(d.mean(), 4), round(float(d.ppf(0.5)), 3)
    (0.7667, 0.735)
    """

    kind: str
    value: float | None = None
    min: float | None = None
    mode: float | None = None
    max: float | None = None
    p5: float | None = None
    p95: float | None = None
    unit: str = ""
    source: str = ""

    # -- lognormal helpers -------------------------------------------------------------------
    @property
    def mu_sigma(self) -> tuple[float, float]:
        """``(mu, sigma)`` of log(X) for a lognormal given by its P5 and P95."""
        lo, hi = math.log(self.p5), math.log(self.p95)  # type: ignore[arg-type]
        return (lo + hi) / 2.0, (hi - lo) / (2.0 * Z95)

    def truncated_mass(self) -> float:
        """Probability the untruncated lognormal gives to ``min..max`` (1 without truncation)."""
        lo, hi = self._lognormal_cdf_bounds()
        return hi - lo

    def _lognormal_cdf_bounds(self) -> tuple[float, float]:
        mu, s = self.mu_sigma
        lo = 0.0 if not self.min else float(ndtr((math.log(self.min) - mu) / s))
        hi = 1.0 if self.max is None else float(ndtr((math.log(self.max) - mu) / s))
        return lo, hi

    # -- the three things the model needs ---------------------------------------------------
    def ppf(self, q: np.ndarray | float) -> np.ndarray:
        """Quantile function: the value with probability ``q`` of not being exceeded."""
        q = np.asarray(q, dtype=float)
        if self.kind == "fixed":
            return np.full(q.shape, float(self.value))  # type: ignore[arg-type]
        if self.kind == "uniform":
            return self.min + q * (self.max - self.min)  # type: ignore[operator]
        if self.kind == "triangular":
            a, c, b = float(self.min), float(self.mode), float(self.max)  # type: ignore[arg-type]
            if b == a:
                return np.full(q.shape, a)
            split = (c - a) / (b - a)
            left = a + np.sqrt(q * (b - a) * (c - a))
            right = b - np.sqrt((1.0 - q) * (b - a) * (b - c))
            return np.where(q < split, left, right)
        if self.kind == "lognormal":
            mu, s = self.mu_sigma
            lo, hi = self._lognormal_cdf_bounds()
            return np.exp(mu + s * ndtri(lo + q * (hi - lo)))
        raise ValueError(f"unknown distribution {self.kind!r}")  # parse_parameters prevents this

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws."""
        return self.ppf(rng.random(n))

    def mean(self) -> float:
        """Analytic expectation E[X]."""
        if self.kind == "fixed":
            return float(self.value)  # type: ignore[arg-type]
        if self.kind == "uniform":
            return (self.min + self.max) / 2.0  # type: ignore[operator]
        if self.kind == "triangular":
            return (self.min + self.mode + self.max) / 3.0  # type: ignore[operator]
        mu, s = self.mu_sigma
        lo, hi = self._lognormal_cdf_bounds()
        # E[X | a <= X <= b] for a lognormal: the CDF bounds shifted by sigma² in log space.
        a = -math.inf if not self.min else (math.log(self.min) - mu - s * s) / s
        b = math.inf if self.max is None else (math.log(self.max) - mu - s * s) / s
        return math.exp(mu + s * s / 2.0) * float(ndtr(b) - ndtr(a)) / (hi - lo)

    def describe(self) -> str:
        """Short text such as ``triangular(0.2, 0.6, 1.5) ct/m3``."""
        keys = REQUIRED_KEYS[self.kind] + OPTIONAL_KEYS[self.kind]
        args = ", ".join(f"{k}={getattr(self, k):g}" for k in keys if getattr(self, k) is not None)
        return f"{self.kind}({args}) {self.unit}".strip()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, as written in an AOI file's ``parameters``."""
        out: dict[str, Any] = {"dist": self.kind}
        for k in REQUIRED_KEYS[self.kind] + OPTIONAL_KEYS[self.kind]:
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        if self.unit:
            out["unit"] = self.unit
        out["source"] = self.source
        return out
