"""The Monte Carlo estimate: two models, summaries, sensitivity and the declared-figure check."""

from __future__ import annotations

import csv
import io
import itertools
import math
import numbers
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri
from scipy.stats import rankdata

from geomon.errors import GeomonError
from geomon.estimate._distributions import Distribution
from geomon.estimate._parameters import DEFAULTS

SQM_PER_HA = 10_000.0
DAYS_PER_YEAR = 365.25
AREA_FACTOR = "area_factor"


@dataclass(frozen=True)
class Method:
    """One production model: carats = area × scale × product of its parameters.

    ``area`` names the :class:`PeriodDisturbance` field it uses; ``per_ha`` is the constant per
    hectare (10,000 m²/ha for volumes, 1 for diggers); ``per_day`` scales by period length / year.
    """

    name: str
    area: str
    parameters: tuple[str, ...]
    per_ha: float
    per_day: bool
    formula: str


METHODS: dict[str, Method] = {
    "volumetric": Method(
        "volumetric",
        area="new_ha",
        parameters=(
            "excavation_depth_m",
            "gravel_fraction",
            "excavated_fraction",
            "grade_ct_per_m3",
            "recovery",
        ),
        per_ha=SQM_PER_HA,
        per_day=False,
        formula="new_ha × area_factor × 10,000 m²/ha × excavation_depth_m × gravel_fraction"
        " × excavated_fraction × grade_ct_per_m3 × recovery",
    ),
    "labour": Method(
        "labour",
        area="active_ha",
        parameters=(
            "diggers_per_ha",
            "days_worked_per_year",
            "gravel_m3_per_digger_day",
            "grade_ct_per_m3",
            "recovery",
        ),
        per_ha=1.0,
        per_day=True,
        formula="active_ha × area_factor × diggers_per_ha × days_worked_per_year × period_days"
        " / 365.25 × gravel_m3_per_digger_day × grade_ct_per_m3 × recovery",
    ),
}


@dataclass(frozen=True)
class PeriodDisturbance:
    """Mapped digging in one period, the input of the estimate.

    Parameters
    ----------
    period
        Label, e.g. ``"2024Q2"``.
    start, end
        First and last day of the period (both inclusive).
    new_ha
        Area newly disturbed by digging in the period (feeds the volumetric model).
    active_ha
        Area of active digging in the period (feeds the labour model).

    Examples
    --------
    >>> PeriodDisturbance("2024Q2", date(2024, 4, 1), date(2024, 6, 30), 3.0, 10.0).days
    91
    """

    period: str
    start: date
    end: date
    new_ha: float
    active_ha: float

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise GeomonError(
                f"end {self.end} is before start {self.start}",
                field=f"periods.{self.period}.end",
                expected="end >= start (both inclusive)",
            )
        for name in ("new_ha", "active_ha"):
            value = getattr(self, name)
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
            if not (ok and math.isfinite(value) and value >= 0):
                raise GeomonError(
                    f"bad area {value!r}",
                    field=f"periods.{self.period}.{name}",
                    expected="a finite number of hectares >= 0",
                )

    @property
    def days(self) -> int:
        """Length of the period in days."""
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class Summary:
    """Mean and percentiles of a set of Monte Carlo draws, in carats."""

    mean: float
    p5: float
    p50: float
    p95: float

    @classmethod
    def of(cls, draws: np.ndarray) -> Summary:
        p5, p50, p95 = np.percentile(draws, [5, 50, 95])
        return cls(float(np.mean(draws)), float(p5), float(p50), float(p95))

    def to_dict(self) -> dict[str, float]:
        return {k: _round(getattr(self, k)) for k in ("mean", "p5", "p50", "p95")}


@dataclass(frozen=True)
class PeriodResult:
    """Carats produced in one period by one method."""

    period: str
    start: date
    end: date
    method: str
    area_ha: float
    carats: Summary


@dataclass(frozen=True)
class YearResult:
    """Carats in one calendar year by one method; periods spanning two years are split by days.

    ``days_covered`` is how many days of the year the periods cover: fewer than 365 means a partial
    year, not a low one.
    """

    year: int
    method: str
    days_covered: int
    carats: Summary


@dataclass(frozen=True)
class Sensitivity:
    """Tornado row: total carats (all periods) with one parameter at its P5 / P95, rest at median.

    ``spearman`` is the rank correlation between the parameter's draws and the total's draws
    (``None`` when either does not vary).
    """

    method: str
    parameter: str
    value_p5: float
    value_p95: float
    outcome_at_p5: float
    outcome_at_p95: float
    swing: float
    spearman: float | None


@dataclass(frozen=True)
class DeclaredCheck:
    """A declared figure (for a period label or a year) against the estimate's P5–P95."""

    period: str
    method: str
    declared: float
    estimate: Summary
    position: str  # "below" | "inside" | "above"

    @property
    def inside(self) -> bool:
        return self.position == "inside"

    @property
    def flag(self) -> str:
        if self.inside:
            return ""
        return (
            f"declared {self.position} the estimate's {'P5' if self.position == 'below' else 'P95'}"
        )


@dataclass(frozen=True)
class ResourceCheck:
    """Resource potential: carats remaining = ``resource_ct`` − carats mined in all periods.

    Mining between the date of the resource figure and the first period is not subtracted.
    """

    method: str
    resource: Summary
    mined: Summary
    remaining: Summary


@dataclass(frozen=True)
class Estimate:
    """The result of :func:`run_estimate`; see :meth:`to_json_dict` and :meth:`to_csv_text`."""

    aoi_id: str
    methods: tuple[str, ...]
    draws: int
    seed: int
    area_rel_error: float
    periods: tuple[PeriodResult, ...]
    years: tuple[YearResult, ...]
    sensitivity: tuple[Sensitivity, ...]
    parameters: Mapping[str, Distribution]
    missing_sources: tuple[str, ...]
    declared: tuple[DeclaredCheck, ...]
    declared_unmatched: tuple[str, ...]
    resource: tuple[ResourceCheck, ...]
    inputs: tuple[PeriodDisturbance, ...]

    def result(self, period: str, method: str) -> PeriodResult:
        """The row for one period label and method."""
        for row in self.periods:
            if row.period == period and row.method == method:
                return row
        raise KeyError((period, method))

    def to_json_dict(self) -> dict[str, Any]:
        """Everything in plain JSON types (what a run writes as ``estimate.json``)."""
        return {
            "aoi": self.aoi_id,
            "unit": "carats",
            "draws": self.draws,
            "seed": self.seed,
            "area_rel_error": self.area_rel_error,
            "methods": {m: METHODS[m].formula for m in self.methods},
            "notes": [
                "area_factor ~ Normal(1, area_rel_error) truncated at 0: mapping error of areas.",
                "One Monte Carlo draw is one set of parameter values and one area_factor applied "
                "to every period, so year totals and cumulative totals keep their correlation.",
                "Labour: days worked are spread evenly over the year (no seasonality).",
            ],
            "periods": [
                {
                    "period": r.period,
                    "start": r.start.isoformat(),
                    "end": r.end.isoformat(),
                    "method": r.method,
                    "area_ha": _round(r.area_ha),
                    **r.carats.to_dict(),
                }
                for r in self.periods
            ],
            "years": [
                {
                    "year": y.year,
                    "method": y.method,
                    "days_covered": y.days_covered,
                    **y.carats.to_dict(),
                }
                for y in self.years
            ],
            "sensitivity": {
                m: [
                    {
                        "parameter": s.parameter,
                        "value_p5": _round(s.value_p5),
                        "value_p95": _round(s.value_p95),
                        "outcome_at_p5": _round(s.outcome_at_p5),
                        "outcome_at_p95": _round(s.outcome_at_p95),
                        "swing": _round(s.swing),
                        "spearman": None if s.spearman is None else round(s.spearman, 4),
                    }
                    for s in self.sensitivity
                    if s.method == m
                ]
                for m in self.methods
            },
            "parameters": {
                name: {**d.to_dict(), "mean": _round(d.mean()), "describe": d.describe()}
                for name, d in self.parameters.items()
            },
            "missing_sources": list(self.missing_sources),
            "declared": [
                {
                    "period": c.period,
                    "method": c.method,
                    "declared": c.declared,
                    "p5": _round(c.estimate.p5),
                    "p50": _round(c.estimate.p50),
                    "p95": _round(c.estimate.p95),
                    "inside_p5_p95": c.inside,
                    "position": c.position,
                    "flag": c.flag,
                }
                for c in self.declared
            ],
            "declared_unmatched": list(self.declared_unmatched),
            "resource": [
                {
                    "method": r.method,
                    "resource_ct": r.resource.to_dict(),
                    "mined_ct": r.mined.to_dict(),
                    "remaining_ct": r.remaining.to_dict(),
                    "note": "remaining = resource_ct − carats mined in the assessed periods; "
                    "mining between the resource's date and the first period is not subtracted",
                }
                for r in self.resource
            ],
        }

    def to_csv_text(self) -> str:
        """One row per AOI, period and method (what a run writes as ``estimate.csv``)."""
        declared = {(c.period, c.method): c for c in self.declared}
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(
            [
                "aoi",
                "period",
                "start",
                "end",
                "method",
                "area_ha",
                "mean_ct",
                "p5_ct",
                "p50_ct",
                "p95_ct",
                "declared_ct",
                "declared_position",
            ]
        )
        for r in self.periods:
            c = declared.get((r.period, r.method))
            w.writerow(
                [
                    self.aoi_id,
                    r.period,
                    r.start.isoformat(),
                    r.end.isoformat(),
                    r.method,
                    f"{r.area_ha:.4f}",
                    f"{r.carats.mean:.3f}",
                    f"{r.carats.p5:.3f}",
                    f"{r.carats.p50:.3f}",
                    f"{r.carats.p95:.3f}",
                    "" if c is None else f"{c.declared:g}",
                    "" if c is None else c.position,
                ]
            )
        return buf.getvalue()


def run_estimate(
    periods: Sequence[PeriodDisturbance],
    parameters: Mapping[str, Distribution],
    *,
    aoi_id: str,
    draws: int = 10_000,
    seed: int = 0,
    area_rel_error: float = 0.10,
    declared: Mapping[str, float] | None = None,
    methods: Sequence[str] = ("volumetric", "labour"),
) -> Estimate:
    """Monte Carlo estimate of carats produced per period, by the volumetric and labour models.

    Parameters
    ----------
    periods
        Mapped disturbance per period; labels unique, periods not overlapping.
    parameters
        Parsed distributions (:func:`parse_parameters`, usually merged AOI + pipeline). Every
        parameter of each requested method must be present, except ``excavated_fraction`` (1).
    aoi_id
        Carried to the outputs.
    draws, seed
        Number of Monte Carlo draws; seed of the random streams. Each parameter has its own
        stream, seeded by ``(seed, crc32(name))``, so adding or removing one parameter does not
        change the draws of the others, and widening a range moves the same quantiles outward.
    area_rel_error
        Relative 1-sigma error of the mapped areas: every area is multiplied by one draw of
        Normal(1, area_rel_error) truncated at 0 (by inverse CDF), shared by all periods and both
        methods in that draw (a systematic mapping bias, the conservative choice for totals).
    declared
        Declared carats keyed by period label (``"2024Q2"``) or calendar year (``"2024"``).
    methods
        Which models to run.

    Returns
    -------
    Estimate

    Examples
    --------
    >>> from geomon.estimate import parse_parameters
    >>> params = parse_parameters({
    ...     "excavation_depth_m": {"dist": "fixed", "value": 2.0},
    ...     "gravel_fraction": {"dist": "fixed", "value": 0.25},
    ...     "grade_ct_per_m3": {"dist": "fixed", "value": 0.5},
    ...     "recovery": {"dist": "fixed", "value": 0.8}}, origin="example")
    >>> p = [PeriodDisturbance("2024Q2", date(2024, 4, 1), date(2024, 6, 30), 1.0, 0.0)]
    >>> est = run_estimate(p, params, aoi_id="x", methods=["volumetric"], area_rel_error=0)
    >>> est.result("2024Q2", "volumetric").carats.p50   # 10,000 × 2 × 0.25 × 0.5 × 0.8
    2000.0
    """
    periods = _check_periods(periods)
    methods = tuple(dict.fromkeys(methods))
    for m in methods:
        if m not in METHODS:
            raise GeomonError(
                f"unknown method {m!r}", field="methods", expected="one of: " + ", ".join(METHODS)
            )
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 2:
        raise GeomonError(f"bad draws {draws!r}", field="draws", expected="an integer >= 2")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise GeomonError(f"bad seed {seed!r}", field="seed", expected="an integer >= 0")
    if not (math.isfinite(area_rel_error) and area_rel_error >= 0):
        raise GeomonError(
            f"bad area_rel_error {area_rel_error!r}",
            field="area_rel_error",
            expected="a number >= 0, e.g. 0.10",
        )

    params = {**{k: v for k, v in DEFAULTS.items() if k not in parameters}, **parameters}
    needed = [n for m in methods for n in METHODS[m].parameters]
    missing = sorted({n for n in needed if n not in params})
    if missing:
        raise GeomonError(
            "missing parameters: " + ", ".join(missing),
            field="parameters",
            expected=f"a distribution for each parameter of the methods {', '.join(methods)}",
        )
    used = list(dict.fromkeys(needed + (["resource_ct"] if "resource_ct" in params else [])))
    quantiles: dict[str, Callable[[np.ndarray], np.ndarray]] = {n: params[n].ppf for n in used}
    quantiles[AREA_FACTOR] = lambda q: _area_factor_ppf(q, area_rel_error)
    samples = {n: ppf(_stream(seed, n).random(draws)) for n, ppf in quantiles.items()}

    per_period: dict[str, np.ndarray] = {}  # method -> (n_periods, draws)
    rows: list[PeriodResult] = []
    sens: list[Sensitivity] = []
    for m in methods:
        method = METHODS[m]
        per_period[m] = _carats(method, periods, samples)
        for p, draws_p in zip(periods, per_period[m], strict=True):
            area = getattr(p, method.area)
            rows.append(PeriodResult(p.period, p.start, p.end, m, area, Summary.of(draws_p)))
        sens.extend(_sensitivity(method, periods, quantiles, samples, per_period[m].sum(axis=0)))

    years = _years(periods, per_period)
    checks, unmatched = _declared(declared or {}, rows, years)
    resource = tuple(
        ResourceCheck(
            m,
            Summary.of(samples["resource_ct"]),
            Summary.of(per_period[m].sum(axis=0)),
            Summary.of(samples["resource_ct"] - per_period[m].sum(axis=0)),
        )
        for m in methods
        if "resource_ct" in samples
    )
    used_params = {n: params[n] for n in used}
    return Estimate(
        aoi_id=aoi_id,
        methods=methods,
        draws=draws,
        seed=seed,
        area_rel_error=float(area_rel_error),
        periods=tuple(rows),
        years=years,
        sensitivity=tuple(sens),
        parameters=used_params,
        missing_sources=tuple(n for n, d in used_params.items() if not d.source),
        declared=checks,
        declared_unmatched=unmatched,
        resource=resource,
        inputs=tuple(periods),
    )


# -- internals ------------------------------------------------------------------------------------


def _stream(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def _area_factor_ppf(q: np.ndarray, rel_error: float) -> np.ndarray:
    """Quantiles of Normal(1, rel_error) truncated to positive values."""
    q = np.asarray(q, dtype=float)
    if rel_error == 0:
        return np.ones_like(q)
    lo = ndtr(-1.0 / rel_error)
    return 1.0 + rel_error * ndtri(lo + q * (1.0 - lo))


def _carats(
    method: Method, periods: Sequence[PeriodDisturbance], values: Mapping[str, Any]
) -> np.ndarray:
    """Carats per period (rows) for each set of ``values`` (scalars, or arrays over draws)."""
    factor = method.per_ha * np.asarray(values[AREA_FACTOR], dtype=float)
    for name in method.parameters:
        factor = factor * values[name]
    scale = np.array(
        [
            getattr(p, method.area) * (p.days / DAYS_PER_YEAR if method.per_day else 1.0)
            for p in periods
        ]
    )
    return np.multiply.outer(scale, factor)


def _sensitivity(
    method: Method,
    periods: Sequence[PeriodDisturbance],
    quantiles: Mapping[str, Callable[[np.ndarray], np.ndarray]],
    samples: Mapping[str, np.ndarray],
    total: np.ndarray,
) -> list[Sensitivity]:
    names = [*method.parameters, AREA_FACTOR]
    median = {n: float(quantiles[n](np.array(0.5))) for n in names}
    out = []
    for n in names:
        lo, hi = (float(quantiles[n](np.array(q))) for q in (0.05, 0.95))
        if lo == hi:
            continue
        at_lo = float(_carats(method, periods, {**median, n: lo}).sum())
        at_hi = float(_carats(method, periods, {**median, n: hi}).sum())
        out.append(
            Sensitivity(
                method.name,
                n,
                lo,
                hi,
                at_lo,
                at_hi,
                abs(at_hi - at_lo),
                _spearman(samples[n], total),
            )
        )
    return sorted(out, key=lambda s: -s.swing)


def _spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


def _check_periods(periods: Sequence[PeriodDisturbance]) -> list[PeriodDisturbance]:
    if not periods:
        raise GeomonError("no periods to estimate", field="periods", expected="at least one period")
    labels = [p.period for p in periods]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise GeomonError("duplicate period labels: " + ", ".join(dupes), field="periods")
    ordered = sorted(periods, key=lambda p: p.start)
    for a, b in itertools.pairwise(ordered):
        if b.start <= a.end:
            raise GeomonError(
                f"periods {a.period} and {b.period} overlap",
                field="periods",
                expected="periods that do not share days (carats would be counted twice)",
            )
    return ordered


def _years(
    periods: Sequence[PeriodDisturbance], per_period: Mapping[str, np.ndarray]
) -> tuple[YearResult, ...]:
    """Year totals: each period's draws split over calendar years in proportion to its days."""
    years = sorted({y for p in periods for y in range(p.start.year, p.end.year + 1)})
    weights = np.zeros((len(years), len(periods)))
    covered = np.zeros(len(years), dtype=int)
    for j, p in enumerate(periods):
        for i, y in enumerate(years):
            first, last = max(p.start, date(y, 1, 1)), min(p.end, date(y, 12, 31))
            if last >= first:
                days = (last - first).days + 1
                weights[i, j] = days / p.days
                covered[i] += days
    out = []
    for m, draws in per_period.items():
        totals = weights @ draws
        out.extend(
            YearResult(y, m, int(covered[i]), Summary.of(totals[i])) for i, y in enumerate(years)
        )
    return tuple(out)


def _declared(
    declared: Mapping[str, float], rows: Sequence[PeriodResult], years: Sequence[YearResult]
) -> tuple[tuple[DeclaredCheck, ...], tuple[str, ...]]:
    by_key: dict[str, list[tuple[str, Summary]]] = {}
    for r in rows:
        by_key.setdefault(r.period, []).append((r.method, r.carats))
    for y in years:
        by_key.setdefault(str(y.year), []).append((y.method, y.carats))
    checks, unmatched = [], []
    for key, value in declared.items():
        if key not in by_key:
            unmatched.append(key)
            continue
        for method, s in by_key[key]:
            position = "below" if value < s.p5 else "above" if value > s.p95 else "inside"
            checks.append(DeclaredCheck(key, method, float(value), s, position))
    return tuple(checks), tuple(unmatched)


def _round(x: float) -> float:
    return round(float(x), 3)
