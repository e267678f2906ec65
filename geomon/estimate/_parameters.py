"""The parameter schema: which parameters exist, their units and bounds; readable parse errors."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geomon.errors import GeomonError
from geomon.estimate._distributions import DIST_KINDS, OPTIONAL_KEYS, REQUIRED_KEYS, Distribution

_TEXT_KEYS = ("unit", "source", "note")


@dataclass(frozen=True)
class ParameterSpec:
    """What one parameter means, its unit, and the values it may take (``lower <= x <= upper``)."""

    name: str
    unit: str
    description: str
    upper: float | None = None
    lower: float = 0.0


#: Every parameter the estimate knows. The models say which ones they need (see ``METHODS``).
PARAMETERS: dict[str, ParameterSpec] = {
    s.name: s
    for s in (
        ParameterSpec(
            "excavation_depth_m", "m", "mean depth of the pits dug in newly disturbed ground"
        ),
        ParameterSpec(
            "gravel_fraction",
            "fraction",
            "share of the excavated volume that is diamondiferous gravel (thickness / depth)",
            upper=1.0,
        ),
        ParameterSpec(
            "excavated_fraction",
            "fraction",
            "share of a mapped disturbed patch that is pit rather than spoil, tracks or ponds "
            "(optional; taken as 1 when absent)",
            upper=1.0,
        ),
        ParameterSpec("grade_ct_per_m3", "ct/m3", "carats contained per m³ of gravel"),
        ParameterSpec(
            "recovery",
            "fraction",
            "share of contained carats artisanal washing recovers",
            upper=1.0,
        ),
        ParameterSpec(
            "diggers_per_ha", "diggers/ha", "people digging per hectare of active digging"
        ),
        ParameterSpec(
            "days_worked_per_year", "days/yr", "days a digger works in a year", upper=366.0
        ),
        ParameterSpec(
            "gravel_m3_per_digger_day", "m3/digger-day", "gravel one digger processes in a day"
        ),
        ParameterSpec(
            "resource_ct",
            "ct",
            "carats remaining in the deposit at the date of the source (optional; for the "
            "resource-potential check)",
        ),
    )
}

#: Parameters that may be left out, and the value used then.
DEFAULTS: dict[str, Distribution] = {
    "excavated_fraction": Distribution(
        "fixed", value=1.0, unit="fraction", source="default: whole mapped patch is excavated"
    ),
}


def parse_parameters(
    raw: Mapping[str, Any],
    *,
    origin: str | Path,
    require_sources: bool = False,
    field_prefix: str = "parameters",
) -> dict[str, Distribution]:
    """Check and convert a ``parameters`` mapping into :class:`Distribution` objects.

    Parameters
    ----------
    raw
        ``{name: {"dist": ..., <numbers>, "unit": ..., "source": ...}}``, e.g. an AOI file's
        ``properties.parameters`` or a pipeline's ``estimate.parameters``. It may be partial.
    origin
        The file the mapping came from, named in every error.
    require_sources
        Treat a missing or empty ``source`` as an error.
    field_prefix
        Dotted path of ``raw`` inside its file, used in error messages.

    Returns
    -------
    dict
        Parameter name to :class:`Distribution`.

    Raises
    ------
    GeomonError
        Naming ``origin``, the field (e.g. ``parameters.grade_ct_per_m3.min``) and what was
        expected: unknown parameter or distribution, missing or extra keys, non-numbers,
        ``min > max`` (or mode outside ``min..max``, ``p5 >= p95``), negative values, fractions
        outside 0..1, a unit other than the schema's, a missing source when ``require_sources``.

    Examples
    --------
    >>> p = parse_parameters(
    ...     {"recovery": {"dist": "uniform", "min": 0.5, "max": 0.9, "source": "assumption"}},
    ...     origin="aoi/x.geojson")
    >>> p["recovery"].mean()
    0.7
    """
    if not isinstance(raw, Mapping):
        raise GeomonError(
            f"wrong type {type(raw).__name__}",
            path=origin,
            field=field_prefix,
            expected="a mapping",
        )
    out: dict[str, Distribution] = {}
    for name, entry in raw.items():
        field = f"{field_prefix}.{name}"
        spec = PARAMETERS.get(name)
        if spec is None:
            raise GeomonError(
                "unknown parameter",
                path=origin,
                field=field,
                expected="one of: " + ", ".join(PARAMETERS),
            )
        out[name] = _parse_one(
            entry, spec, origin=origin, field=field, require_source=require_sources
        )
    return out


def merge_parameters(
    base: Mapping[str, Distribution], override: Mapping[str, Distribution]
) -> dict[str, Distribution]:
    """``base`` with each parameter in ``override`` replacing the one of the same name.

    Examples
    --------
    >>> a = {"recovery": Distribution("fixed", value=0.7)}
    >>> merge_parameters(a, {"recovery": Distribution("fixed", value=0.9)})["recovery"].value
    0.9
    """
    return {**base, **override}


def _parse_one(
    entry: Any, spec: ParameterSpec, *, origin: str | Path, field: str, require_source: bool
) -> Distribution:
    if not isinstance(entry, Mapping):
        raise GeomonError(
            f"wrong type {type(entry).__name__}",
            path=origin,
            field=field,
            expected='a mapping such as {"dist": "uniform", "min": 1, "max": 2, "source": "..."}',
        )
    kind = entry.get("dist")
    if kind not in DIST_KINDS:
        what = "missing distribution" if kind is None else f"unknown distribution {kind!r}"
        raise GeomonError(
            what, path=origin, field=f"{field}.dist", expected="one of: " + ", ".join(DIST_KINDS)
        )
    allowed = ("dist", *REQUIRED_KEYS[kind], *OPTIONAL_KEYS[kind], *_TEXT_KEYS)
    for key in entry:
        if key not in allowed:
            raise GeomonError(
                f"key not used by a {kind} distribution",
                path=origin,
                field=f"{field}.{key}",
                expected="one of: " + ", ".join(allowed),
            )
    numbers: dict[str, float] = {}
    for key in REQUIRED_KEYS[kind] + OPTIONAL_KEYS[kind]:
        if key not in entry:
            if key in REQUIRED_KEYS[kind]:
                raise GeomonError(
                    f"missing key for a {kind} distribution", path=origin, field=f"{field}.{key}"
                )
            continue
        numbers[key] = _number(entry[key], spec, origin=origin, field=f"{field}.{key}")
    _check_order(kind, numbers, origin=origin, field=field)

    unit = entry.get("unit", spec.unit)
    if unit != spec.unit:
        raise GeomonError(
            f"unit {unit!r} does not match the schema",
            path=origin,
            field=f"{field}.unit",
            expected=f"{spec.unit!r} (convert the numbers)",
        )
    source = entry.get("source", "")
    if not isinstance(source, str):
        raise GeomonError("wrong type", path=origin, field=f"{field}.source", expected="a string")
    if require_source and not source.strip():
        raise GeomonError(
            "missing source",
            path=origin,
            field=f"{field}.source",
            expected="where the numbers come from (a report, or 'assumption: ...')",
        )
    dist = Distribution(kind, unit=spec.unit, source=source.strip(), **numbers)
    if kind == "lognormal" and dist.truncated_mass() < 1e-6:
        raise GeomonError(
            "the min..max truncation keeps almost none of the p5..p95 lognormal",
            path=origin,
            field=f"{field}.min",
            expected="min/max bounds that overlap p5..p95",
        )
    return dist


def _number(value: Any, spec: ParameterSpec, *, origin: str | Path, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise GeomonError(
            f"not a finite number: {value!r}", path=origin, field=field, expected="a number"
        )
    value = float(value)
    if value < spec.lower:
        raise GeomonError(
            f"negative value {value:g}" if value < 0 else f"value {value:g} too small",
            path=origin,
            field=field,
            expected=f"a value >= {spec.lower:g} ({spec.unit})",
        )
    if spec.upper is not None and value > spec.upper:
        raise GeomonError(
            f"value {value:g} out of range",
            path=origin,
            field=field,
            expected=f"a value between {spec.lower:g} and {spec.upper:g} ({spec.unit})",
        )
    return value


def _check_order(kind: str, v: dict[str, float], *, origin: str | Path, field: str) -> None:
    if "min" in v and "max" in v and v["min"] > v["max"]:
        raise GeomonError(
            f"min {v['min']:g} is greater than max {v['max']:g}",
            path=origin,
            field=f"{field}.min",
            expected="min <= max",
        )
    if kind == "triangular" and not v["min"] <= v["mode"] <= v["max"]:
        raise GeomonError(
            f"mode {v['mode']:g} outside min..max",
            path=origin,
            field=f"{field}.mode",
            expected=f"{v['min']:g} <= mode <= {v['max']:g}",
        )
    if kind == "lognormal":
        if v["p5"] <= 0:
            raise GeomonError(
                "p5 must be positive for a lognormal",
                path=origin,
                field=f"{field}.p5",
                expected="0 < p5 < p95",
            )
        if v["p5"] >= v["p95"]:
            raise GeomonError(
                f"p5 {v['p5']:g} is not below p95 {v['p95']:g}",
                path=origin,
                field=f"{field}.p5",
                expected="0 < p5 < p95",
            )
        if "min" in v and "max" in v and v["min"] == v["max"]:
            raise GeomonError(
                "truncation min equals max",
                path=origin,
                field=f"{field}.min",
                expected="min < max, or a fixed distribution",
            )
