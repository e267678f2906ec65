"""Production estimates in carats from mapped digging, with their uncertainty (Monte Carlo).

Two models, after the USGS production-capacity method for the Kimberley Process (Fact Sheet
2012-3128; SIR 2010-5045 Ghana; SIR 2012-5256 Guinea; SIR 2013-5185 Côte d'Ivoire):

volumetric
    carats = new_ha × area_factor × 10,000 m²/ha × excavation_depth_m × gravel_fraction
    × excavated_fraction × grade_ct_per_m3 × recovery
labour
    carats = active_ha × area_factor × diggers_per_ha × days_worked_per_year × period_days / 365.25
    × gravel_m3_per_digger_day × grade_ct_per_m3 × recovery

``area_factor`` is the mapping error of the areas: Normal(1, area_rel_error) truncated at 0. Each
parameter is a :class:`Distribution` read from the AOI file's ``parameters`` (``aoi/README.md``
documents the schema and the sources), optionally overridden by the pipeline. One draw is one
consistent "world": the same parameter values and area factor for every period, so year totals
and cumulative totals keep the right spread. Optionally, ``resource_ct`` gives the resource
potential check: carats remaining = resource − carats mined in the assessed periods.

Examples
--------
>>> from datetime import date
>>> from geomon.estimate import PeriodDisturbance, parse_parameters, run_estimate
>>> params = parse_parameters({
...     "excavation_depth_m": {"dist": "triangular", "min": 1, "mode": 2.5, "max": 6},
...     "gravel_fraction": {"dist": "uniform", "min": 0.1, "max": 0.4},
...     "grade_ct_per_m3": {"dist": "lognormal", "p5": 0.3, "p95": 1.9},
...     "recovery": {"dist": "uniform", "min": 0.5, "max": 0.9}}, origin="example")
>>> periods = [PeriodDisturbance("2024Q2", date(2024, 4, 1), date(2024, 6, 30), 2.0, 5.0)]
>>> est = run_estimate(periods, params, aoi_id="seguela", methods=["volumetric"])
>>> r = est.result("2024Q2", "volumetric").carats
>>> r.p5 < r.p50 < r.p95
True
"""

from __future__ import annotations

from geomon.estimate._declared import read_declared_csv
from geomon.estimate._distributions import DIST_KINDS, Distribution
from geomon.estimate._model import (
    METHODS,
    DeclaredCheck,
    Estimate,
    Method,
    PeriodDisturbance,
    PeriodResult,
    ResourceCheck,
    Sensitivity,
    Summary,
    YearResult,
    run_estimate,
)
from geomon.estimate._parameters import (
    DEFAULTS,
    PARAMETERS,
    ParameterSpec,
    merge_parameters,
    parse_parameters,
)

__all__ = [
    "DEFAULTS",
    "DIST_KINDS",
    "METHODS",
    "PARAMETERS",
    "DeclaredCheck",
    "Distribution",
    "Estimate",
    "Method",
    "ParameterSpec",
    "PeriodDisturbance",
    "PeriodResult",
    "ResourceCheck",
    "Sensitivity",
    "Summary",
    "YearResult",
    "merge_parameters",
    "parse_parameters",
    "read_declared_csv",
    "run_estimate",
]
