"""Tests of geomon.estimate: the Monte Carlo against analytic means and hand arithmetic, parameter
and CSV errors, the declared-figure check, and the committed AOI parameter sets."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from geomon.aoi import list_aois, read_aoi_file
from geomon.errors import GeomonError
from geomon.estimate import (
    Distribution,
    PeriodDisturbance,
    merge_parameters,
    parse_parameters,
    read_declared_csv,
    run_estimate,
)

Z95 = 1.6448536269514722  # standard normal 95th percentile, written out to stay independent


def quarter(label: str, start: date, end: date, new_ha: float, active_ha: float):
    return PeriodDisturbance(label, start, end, new_ha, active_ha)


Q2 = quarter("2024Q2", date(2024, 4, 1), date(2024, 6, 30), 2.5, 4.0)  # 91 days
Q3 = quarter("2024Q3", date(2024, 7, 1), date(2024, 9, 30), 1.0, 6.0)  # 92 days
Q4 = quarter("2024Q4", date(2024, 10, 1), date(2024, 12, 31), 2.0, 5.0)  # 92 days


def fixed_params(**values: float) -> dict[str, Distribution]:
    raw = {k: {"dist": "fixed", "value": v, "source": "test"} for k, v in values.items()}
    return parse_parameters(raw, origin="test")


HAND = dict(
    excavation_depth_m=3.0,
    gravel_fraction=0.2,
    excavated_fraction=0.5,
    grade_ct_per_m3=0.8,
    recovery=0.75,
    diggers_per_ha=30.0,
    days_worked_per_year=200.0,
    gravel_m3_per_digger_day=0.1,
)

UNCERTAIN = {
    "excavation_depth_m": {"dist": "triangular", "min": 1.0, "mode": 2.0, "max": 6.0},
    "gravel_fraction": {"dist": "uniform", "min": 0.1, "max": 0.4},
    "excavated_fraction": {"dist": "fixed", "value": 0.6},
    "grade_ct_per_m3": {"dist": "lognormal", "p5": 0.3, "p95": 1.9},
    "recovery": {"dist": "triangular", "min": 0.5, "mode": 0.75, "max": 0.9},
    "diggers_per_ha": {"dist": "uniform", "min": 10, "max": 80},
    "days_worked_per_year": {"dist": "triangular", "min": 100, "mode": 180, "max": 250},
    "gravel_m3_per_digger_day": {"dist": "lognormal", "p5": 0.05, "p95": 0.4, "max": 1.0},
}


def analytic_mean(spec: dict) -> float:
    """E[X] written out per distribution, independent of the package's own mean()."""
    kind = spec["dist"]
    if kind == "fixed":
        return spec["value"]
    if kind == "uniform":
        return (spec["min"] + spec["max"]) / 2
    if kind == "triangular":
        return (spec["min"] + spec["mode"] + spec["max"]) / 3
    mu = (math.log(spec["p5"]) + math.log(spec["p95"])) / 2
    s = (math.log(spec["p95"]) - math.log(spec["p5"])) / (2 * Z95)
    if "min" not in spec and "max" not in spec:
        return math.exp(mu + s * s / 2)
    # truncated: let scipy integrate x over [min, max] under the conditional density
    dist = stats.lognorm(s, scale=math.exp(mu))
    return dist.expect(
        lambda x: x, lb=spec.get("min", 0.0), ub=spec.get("max", np.inf), conditional=True
    )


def area_factor_mean(s: float) -> float:
    """Mean of Normal(1, s) truncated at 0: 1 + s·φ(1/s)/Φ(1/s)."""
    return 1 + s * stats.norm.pdf(1 / s) / stats.norm.cdf(1 / s)


# -- Monte Carlo against analytic expectations ---------------------------------------------------


def test_volumetric_and_labour_means_match_analytic_product_within_1_percent():
    params = parse_parameters(UNCERTAIN, origin="test")
    est = run_estimate([Q2, Q3], params, aoi_id="t", draws=200_000, seed=7, area_rel_error=0.1)
    m = {k: analytic_mean(v) for k, v in UNCERTAIN.items()}
    af = area_factor_mean(0.1)
    per_ha = 10_000 * m["excavation_depth_m"] * m["gravel_fraction"] * m["excavated_fraction"]
    per_ha *= m["grade_ct_per_m3"] * m["recovery"] * af
    labour = (
        m["diggers_per_ha"]
        * m["days_worked_per_year"]
        * m["gravel_m3_per_digger_day"]
        * m["grade_ct_per_m3"]
        * m["recovery"]
        * af
        / 365.25
    )
    for p in (Q2, Q3):
        vol = est.result(p.period, "volumetric").carats.mean
        lab = est.result(p.period, "labour").carats.mean
        assert vol == pytest.approx(p.new_ha * per_ha, rel=0.01)
        assert lab == pytest.approx(p.active_ha * p.days * labour, rel=0.01)


def test_distribution_means_match_their_samples():
    rng = np.random.default_rng(3)
    for spec in UNCERTAIN.values():
        dist = Distribution(spec["dist"], **{k: v for k, v in spec.items() if k != "dist"})
        assert dist.mean() == pytest.approx(analytic_mean(spec), rel=1e-6)
        assert dist.sample(rng, 400_000).mean() == pytest.approx(analytic_mean(spec), rel=0.01)


def test_lognormal_percentiles_are_the_given_p5_p95():
    d = Distribution("lognormal", p5=0.3, p95=1.9)
    assert d.ppf(np.array([0.05, 0.95])) == pytest.approx([0.3, 1.9])
    draws = d.sample(np.random.default_rng(0), 200_000)
    assert np.percentile(draws, [5, 95]) == pytest.approx([0.3, 1.9], rel=0.02)


def test_quantile_functions_match_scipy():
    q = np.array([0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 0.95, 0.99])
    tri = Distribution("triangular", min=1.0, mode=2.0, max=6.0)
    ref = stats.triang(c=(2.0 - 1.0) / (6.0 - 1.0), loc=1.0, scale=5.0)
    assert tri.ppf(q) == pytest.approx(ref.ppf(q))
    uni = Distribution("uniform", min=0.1, max=0.4)
    assert uni.ppf(q) == pytest.approx(stats.uniform(0.1, 0.3).ppf(q))
    logn = Distribution("lognormal", p5=0.3, p95=1.9)
    mu, s = math.log(0.3 * 1.9) / 2, math.log(1.9 / 0.3) / (2 * Z95)
    assert logn.ppf(q) == pytest.approx(stats.lognorm(s, scale=math.exp(mu)).ppf(q))


def test_truncated_lognormal_stays_inside_its_bounds():
    d = Distribution("lognormal", p5=0.3, p95=3.0, min=0.2, max=2.0)
    x = d.sample(np.random.default_rng(1), 100_000)
    assert x.min() >= 0.2 and x.max() <= 2.0


def test_fixed_parameters_give_exactly_the_product():
    params = fixed_params(**HAND)
    est = run_estimate([Q2, Q3], params, aoi_id="t", draws=500, area_rel_error=0.0)
    for p in (Q2, Q3):
        vol = 10_000 * p.new_ha * 3.0 * 0.2 * 0.5 * 0.8 * 0.75
        lab = p.active_ha * 30 * 200 * p.days / 365.25 * 0.1 * 0.8 * 0.75
        for method, expected in (("volumetric", vol), ("labour", lab)):
            c = est.result(p.period, method).carats
            assert (c.mean, c.p5, c.p50, c.p95) == pytest.approx((expected,) * 4, rel=1e-12)


# -- hand-computed examples -----------------------------------------------------------------------


def test_hand_computed_volumetric_example():
    # 2.5 ha newly dug in 2024Q2:
    #   2.5 ha × 10,000 m²/ha      = 25,000 m² of ground
    #   × 3.0 m deep               = 75,000 m³ excavated (if all of it were pit)
    #   × 0.5 excavated fraction   = 37,500 m³ actually dug
    #   × 0.2 gravel fraction      =  7,500 m³ of gravel
    #   × 0.8 ct/m³                =  6,000 ct contained
    #   × 0.75 recovery            =  4,500 ct recovered
    est = run_estimate(
        [Q2], fixed_params(**HAND), aoi_id="t", area_rel_error=0, methods=["volumetric"]
    )
    assert est.result("2024Q2", "volumetric").carats.p50 == pytest.approx(4500.0)


def test_hand_computed_labour_example():
    # 4.0 ha active in 2024Q2 (1 April – 30 June = 91 days):
    #   4.0 ha × 30 diggers/ha             = 120 diggers
    #   × 200 days/yr × 91 / 365.25        = 120 × 49.8289 = 5,979.47 digger-days
    #   × 0.1 m³ per digger-day            = 597.947 m³ of gravel
    #   × 0.8 ct/m³                        = 478.357 ct contained
    #   × 0.75 recovery                    = 358.768 ct recovered
    est = run_estimate([Q2], fixed_params(**HAND), aoi_id="t", area_rel_error=0, methods=["labour"])
    assert est.result("2024Q2", "labour").carats.p50 == pytest.approx(358.768, abs=1e-3)


def test_year_totals_add_periods_and_split_a_period_across_new_year():
    # Dec 2024 – Jan 2025 is 62 days: 31 go to 2024 and 31 to 2025, so half its carats each.
    winter = quarter("2024-12_2025-01", date(2024, 12, 1), date(2025, 1, 31), 2.0, 0.0)
    est = run_estimate(
        [Q2, Q3, winter], fixed_params(**HAND), aoi_id="t", area_rel_error=0, methods=["volumetric"]
    )
    per_ha = 10_000 * 3.0 * 0.2 * 0.5 * 0.8 * 0.75  # 1,800 ct/ha
    years = {y.year: y for y in est.years}
    assert years[2024].carats.p50 == pytest.approx((2.5 + 1.0 + 1.0) * per_ha)
    assert years[2025].carats.p50 == pytest.approx(1.0 * per_ha)
    assert (years[2024].days_covered, years[2025].days_covered) == (91 + 92 + 31, 31)


def test_zero_area_gives_zero_not_nan():
    empty = quarter("2024Q4", date(2024, 10, 1), date(2024, 12, 31), 0.0, 0.0)
    est = run_estimate([empty], parse_parameters(UNCERTAIN, origin="t"), aoi_id="t", draws=1000)
    for method in ("volumetric", "labour"):
        c = est.result("2024Q4", method).carats
        assert (c.mean, c.p5, c.p50, c.p95) == (0.0, 0.0, 0.0, 0.0)
    json.dumps(est.to_json_dict(), allow_nan=False)  # no NaN anywhere, spearman included


# -- spread, seeds, sensitivity -------------------------------------------------------------------


def test_wider_parameter_range_gives_wider_interval():
    def width(lo: float, hi: float) -> float:
        raw = {**UNCERTAIN, "grade_ct_per_m3": {"dist": "uniform", "min": lo, "max": hi}}
        est = run_estimate([Q2], parse_parameters(raw, origin="t"), aoi_id="t", draws=20_000)
        c = est.result("2024Q2", "volumetric").carats
        return c.p95 - c.p5

    assert width(0.25, 1.25) > width(0.5, 1.0) * 1.05  # same mean grade, twice the range


def test_same_seed_same_result_different_seed_different():
    params = parse_parameters(UNCERTAIN, origin="t")
    a = run_estimate([Q2, Q3], params, aoi_id="t", draws=2000, seed=11).to_json_dict()
    b = run_estimate([Q2, Q3], params, aoi_id="t", draws=2000, seed=11).to_json_dict()
    c = run_estimate([Q2, Q3], params, aoi_id="t", draws=2000, seed=12).to_json_dict()
    assert a == b
    assert a["periods"] != c["periods"]


def test_draws_do_not_depend_on_parameter_order_or_extra_parameters():
    params = parse_parameters(UNCERTAIN, origin="t")
    reordered = dict(reversed(list(params.items())))
    extra = {**params, "resource_ct": Distribution("uniform", min=1e6, max=2e6, source="t")}
    runs = [
        run_estimate([Q2], p, aoi_id="t", draws=3000).to_json_dict()["periods"]
        for p in (params, reordered, extra)
    ]
    assert runs[0] == runs[1] == runs[2]


def test_sensitivity_ranks_the_widest_parameter_first_and_skips_fixed_ones():
    raw = {
        **{k: {"dist": "fixed", "value": v} for k, v in HAND.items()},
        "grade_ct_per_m3": {"dist": "uniform", "min": 0.1, "max": 2.0},  # ×20 range
        "recovery": {"dist": "uniform", "min": 0.7, "max": 0.8},
    }
    est = run_estimate([Q2], parse_parameters(raw, origin="t"), aoi_id="t", area_rel_error=0.1)
    vol = [s for s in est.sensitivity if s.method == "volumetric"]
    assert [s.parameter for s in vol] == ["grade_ct_per_m3", "area_factor", "recovery"]
    grade = vol[0]
    # grade P5 = 0.1 + 0.05 × 1.9 = 0.195 and P95 = 0.1 + 0.95 × 1.9 = 1.905 ct/m³; the rest at
    # their medians (recovery 0.75, area factor 1):
    #   outcome = 2.5 ha × 10,000 × 3 m × 0.2 × 0.5 × grade × 0.75 = 5,625 × grade
    assert grade.outcome_at_p5 == pytest.approx(2.5 * 10_000 * 3 * 0.2 * 0.5 * 0.75 * 0.195)
    assert grade.outcome_at_p95 == pytest.approx(2.5 * 10_000 * 3 * 0.2 * 0.5 * 0.75 * 1.905)
    assert grade.spearman > 0.9


def test_resource_potential_is_resource_minus_mined():
    params = {**fixed_params(**HAND), "resource_ct": Distribution("fixed", value=1e6, source="t")}
    est = run_estimate([Q2, Q3], params, aoi_id="t", area_rel_error=0, methods=["volumetric"])
    (r,) = est.resource
    assert r.remaining.p50 == pytest.approx(1e6 - 3.5 * 1800)


# -- outputs ------------------------------------------------------------------------------------


def test_csv_has_one_row_per_period_and_method_and_json_lists_sources():
    params = parse_parameters(UNCERTAIN, origin="t")
    params["recovery"] = Distribution("uniform", min=0.5, max=0.9, source="")
    est = run_estimate([Q2, Q3], params, aoi_id="seguela", draws=500)
    lines = est.to_csv_text().splitlines()
    assert lines[0].startswith("aoi,period,start,end,method")
    assert len(lines) == 1 + 2 * 2
    assert all(line.startswith("seguela,") for line in lines[1:])
    doc = json.loads(json.dumps(est.to_json_dict(), allow_nan=False))
    assert "recovery" in doc["missing_sources"]
    assert set(doc["sensitivity"]) == {"volumetric", "labour"}
    assert doc["parameters"]["grade_ct_per_m3"]["dist"] == "lognormal"


def test_merge_parameters_override_wins_and_base_is_kept():
    base = fixed_params(**HAND)
    over = parse_parameters({"recovery": {"dist": "uniform", "min": 0.6, "max": 0.8}}, origin="p")
    merged = merge_parameters(base, over)
    assert merged["recovery"].kind == "uniform"
    assert merged["grade_ct_per_m3"] == base["grade_ct_per_m3"]
    assert base["recovery"].kind == "fixed"


# -- declared figures ---------------------------------------------------------------------------


def test_declared_outside_p5_p95_is_flagged_and_inside_is_not():
    params = parse_parameters(UNCERTAIN, origin="t")
    base = run_estimate([Q2, Q3, Q4], params, aoi_id="t", draws=5000)
    q2, q3, q4 = (base.result(q, "volumetric").carats for q in ("2024Q2", "2024Q3", "2024Q4"))
    declared = {
        "2024Q2": q2.p95 * 3,  # far above
        "2024Q3": (q3.p5 + q3.p50) / 2,  # inside, below the median
        "2024Q4": (q4.p50 + q4.p95) / 2,  # inside, above the median
        "2024": 0.0,  # year total: below
        "2019": 3989.58,  # not assessed
    }
    est = run_estimate([Q2, Q3, Q4], params, aoi_id="t", draws=5000, declared=declared)
    checks = {(c.period, c.method): c for c in est.declared}
    assert checks[("2024Q2", "volumetric")].position == "above"
    assert "P95" in checks[("2024Q2", "volumetric")].flag
    for inside in ("2024Q3", "2024Q4"):
        assert checks[(inside, "volumetric")].inside
        assert checks[(inside, "volumetric")].flag == ""
    assert checks[("2024", "volumetric")].position == "below"
    assert "P5" in checks[("2024", "volumetric")].flag
    assert est.declared_unmatched == ("2019",)
    assert ",above" in est.to_csv_text()


def test_read_declared_csv(tmp_path: Path):
    f = tmp_path / "declared.csv"
    f.write_text("period,carats,source\n2024Q2,1200,KP\n\n2024,3989.58,KP statistics\n")
    assert read_declared_csv(f) == {"2024Q2": 1200.0, "2024": 3989.58}


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("period,amount\n2024,12\n", "header"),
        ("period,carats\n2024,lots\n", "line 2: carats"),
        ("period,carats\n2024,-5\n", "line 2: carats"),
        ('period,carats\n2024,"3,989"\n', "line 2: carats"),
        ("period,carats\n,5\n", "line 2: period"),
        ("period,carats\n2024,5\n2024,6\n", "line 3: period"),
    ],
)
def test_bad_declared_csv_names_the_line_and_column(tmp_path: Path, text: str, field: str):
    f = tmp_path / "declared.csv"
    f.write_text(text)
    with pytest.raises(GeomonError) as err:
        read_declared_csv(f)
    assert err.value.field == field
    assert str(f) in str(err.value)


# -- parameter errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (
            {"grade_ct_per_m3": {"dist": "uniform", "min": 2, "max": 1}},
            "parameters.grade_ct_per_m3.min",
            "greater than max",
        ),
        (
            {"grade_ct_per_m3": {"dist": "triangular", "min": -0.2, "mode": 0.5, "max": 1}},
            "parameters.grade_ct_per_m3.min",
            "negative",
        ),
        (
            {"excavation_depth_m": {"dist": "fixed", "value": -3}},
            "parameters.excavation_depth_m.value",
            "negative",
        ),
        (
            {"recovery": {"dist": "uniform", "min": 0.5, "max": 1.2}},
            "parameters.recovery.max",
            "out of range",
        ),
        (
            {"gravel_fraction": {"dist": "fixed", "value": 1.5}},
            "parameters.gravel_fraction.value",
            "out of range",
        ),
        (
            {"grade_ct_per_m3": {"dist": "gamma", "min": 1, "max": 2}},
            "parameters.grade_ct_per_m3.dist",
            "unknown distribution",
        ),
        (
            {"grade_ct_per_m3": {"min": 1, "max": 2}},
            "parameters.grade_ct_per_m3.dist",
            "missing distribution",
        ),
        (
            {"grade_ct_per_m3": {"dist": "triangular", "min": 0.2, "max": 2}},
            "parameters.grade_ct_per_m3.mode",
            "missing key",
        ),
        (
            {"grade_ct_per_m3": {"dist": "triangular", "min": 0.2, "mode": 3, "max": 2}},
            "parameters.grade_ct_per_m3.mode",
            "outside",
        ),
        (
            {"grade_ct_per_m3": {"dist": "uniform", "min": 0.2, "max": "2"}},
            "parameters.grade_ct_per_m3.max",
            "not a finite number",
        ),
        (
            {"grade_ct_per_m3": {"dist": "lognormal", "p5": 2, "p95": 1}},
            "parameters.grade_ct_per_m3.p5",
            "not below",
        ),
        (
            {"grade_ct_per_m3": {"dist": "uniform", "min": 0.2, "max": 2, "mode": 1}},
            "parameters.grade_ct_per_m3.mode",
            "not used",
        ),
        (
            {"grade_ct_per_m3": {"dist": "uniform", "min": 0.2, "max": 2, "unit": "ct/t"}},
            "parameters.grade_ct_per_m3.unit",
            "unit",
        ),
        ({"grade_ct_m3": {"dist": "fixed", "value": 1}}, "parameters.grade_ct_m3", "unknown"),
    ],
)
def test_bad_parameters_name_file_and_field(raw: dict, field: str, words: str):
    with pytest.raises(GeomonError) as err:
        parse_parameters(raw, origin="aoi/x.geojson")
    assert err.value.field == field
    assert words in err.value.message
    assert str(err.value).startswith(str(Path("aoi/x.geojson")))


def test_missing_source_is_an_error_only_when_required():
    raw = {"recovery": {"dist": "uniform", "min": 0.5, "max": 0.9}}
    assert parse_parameters(raw, origin="p.yaml")["recovery"].source == ""
    with pytest.raises(GeomonError) as err:
        parse_parameters(
            raw, origin="p.yaml", require_sources=True, field_prefix="estimate.parameters"
        )
    assert err.value.field == "estimate.parameters.recovery.source"


def test_run_estimate_rejects_missing_parameters_and_overlapping_periods():
    params = parse_parameters(UNCERTAIN, origin="t")
    del params["grade_ct_per_m3"]
    with pytest.raises(GeomonError, match="grade_ct_per_m3"):
        run_estimate([Q2], params, aoi_id="t")
    overlap = quarter("late", date(2024, 6, 1), date(2024, 7, 31), 1, 1)
    with pytest.raises(GeomonError, match="overlap"):
        run_estimate([Q2, overlap], parse_parameters(UNCERTAIN, origin="t"), aoi_id="t")
    with pytest.raises(GeomonError) as err:
        quarter("bad", date(2024, 1, 1), date(2024, 3, 31), -1.0, 0.0)
    assert err.value.field == "periods.bad.new_ha"


# -- the committed AOI files ----------------------------------------------------------------------

AOI_FILES = list_aois()


def test_the_five_fields_are_committed():
    ids = {p.stem for p in AOI_FILES}
    assert {"seguela", "tortiya", "marange", "akwatia", "kono"} <= ids


@pytest.mark.parametrize("path", AOI_FILES, ids=[p.stem for p in AOI_FILES])
def test_aoi_file_validates_and_its_parameters_run(path: Path):
    aoi = read_aoi_file(path)
    assert aoi.geometry.exterior.is_ccw  # right-hand rule as written in the file
    assert 1 < aoi.area_km2 < 1000
    params = parse_parameters(
        aoi.parameters, origin=path, require_sources=True, field_prefix="properties.parameters"
    )
    est = run_estimate([Q2, Q3], params, aoi_id=aoi.id, draws=2000)
    assert not est.missing_sources
    for row in est.periods:
        assert 0 < row.carats.p5 < row.carats.p50 < row.carats.p95
