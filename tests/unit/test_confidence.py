"""Site confidence: calibration, fallback, packaged data, and the reliability measures."""

from __future__ import annotations

import json
import math
from datetime import date

import numpy as np
import pytest
from affine import Affine
from shapely.geometry import box

from geomon.benchmark import TUNING_SEEDS
from geomon.confidence import (
    HEURISTIC,
    Calibration,
    heuristic_confidence,
    load_calibrations,
    site_confidence,
)
from geomon.scoring import (
    brier_score,
    expected_calibration_error,
    polygon_truth_share,
    reliability_table,
)
from geomon.vectorize import vectorize

CAL = Calibration("test", ("mean_score", "persistence", "log10_area_ha"), (2.0, 1.0, 0.5), -1.0,
                  {"fitted": "2026-01-01"})


def _sites(mean_score, persistence, area_ha, n_periods=None):
    n = np.size(mean_score)
    return {"mean_score": np.atleast_1d(mean_score), "persistence": np.atleast_1d(persistence),
            "area_ha": np.atleast_1d(area_ha),
            "n_periods": np.atleast_1d(n_periods if n_periods is not None else [1] * n)}


def test_calibration_hand_computed():
    # z = -1 + 2·0.8 + 1·0.5 + 0.5·log10(1) = 1.1; p = 1 / (1 + e^-1.1)
    p = CAL.predict(_sites(0.8, 0.5, 1.0))
    assert p[0] == pytest.approx(0.7502601, abs=1e-6)
    # 10 ha adds 0.5 to the logit
    assert CAL.predict(_sites(0.8, 0.5, 10.0))[0] == pytest.approx(1 / (1 + math.exp(-1.6)))


@pytest.mark.parametrize("feature", ["mean_score", "persistence", "area_ha"])
def test_calibration_is_monotone_in_each_feature(feature):
    rng = np.random.default_rng(0)
    base = _sites(rng.uniform(0, 1, 50), rng.uniform(0, 1, 50), rng.uniform(0.1, 20, 50))
    more = {k: v.copy() for k, v in base.items()}
    more[feature] = more[feature] + (0.5 if feature != "area_ha" else 5.0)
    assert np.all(CAL.predict(more) >= CAL.predict(base))
    p = CAL.predict(base)
    assert np.all((p > 0) & (p < 1))


def test_calibration_refuses_negative_coefficients():
    with pytest.raises(ValueError, match="monotone"):
        Calibration("x", ("mean_score",), (-0.1,), 0.0)


def test_packaged_calibration_loads_with_provenance():
    cals = load_calibrations()
    assert "rules" in cals
    for method, cal in cals.items():
        prov = cal.provenance
        assert cal.method == method
        assert all(c >= 0 for c in cal.coefficients)
        assert prov["fitted"] and prov["geomon_version"] and prov["model"] and prov["label"]
        assert set(prov["fit_seeds"]) <= set(TUNING_SEEDS)
        assert not set(prov["fit_seeds"]) & set(prov["test_seeds"])
        assert prov["n_fit"] > 0 and 0 <= prov["n_fit_real"] <= prov["n_fit"]
        assert cal.basis == f"calibrated:{method}:{prov['fitted']}"


def test_load_calibrations_from_a_file(tmp_path):
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"methods": {"test": CAL.to_dict()}}))
    cal = load_calibrations(path)["test"]
    assert cal == CAL


def test_unknown_method_falls_back_to_flagged_heuristic():
    sites = _sites([0.5, 1.0], [1.0, 0.25], [1.0, 2.0])
    for method in ("harmonic", None):
        p, basis = site_confidence(sites, method, calibrations={"test": CAL})
        assert basis == HEURISTIC
        np.testing.assert_allclose(p, [0.8, 0.55])
    p, basis = site_confidence(sites, "test", calibrations={"test": CAL})
    assert basis == "calibrated:test:2026-01-01"
    np.testing.assert_allclose(p, CAL.predict(sites))
    np.testing.assert_allclose(heuristic_confidence([2.0], [1.0]), [1.0])  # clipped


def _rasters():
    state = np.zeros((3, 20, 20), "uint8")
    state[:, 2:7, 2:7] = 2
    state[0, 2:7, 2:7] = 1
    score = np.where(state > 0, 0.8, 0).astype("float32")
    periods = [(f"2024Q{i + 1}", date(2024, 3 * i + 1, 1), date(2024, 3 * i + 3, 28))
               for i in range(3)]
    return state, np.zeros_like(state), score, periods


@pytest.mark.parametrize("method", [None, "harmonic", "rules"])
def test_vectorize_names_the_confidence_basis(method):
    state, conf, score, periods = _rasters()
    sites = vectorize(state, conf, score, transform=Affine(10, 0, 500000, 0, -10, 900000),
                      crs="EPSG:32629", periods=periods, aoi_id="t", min_mapping_unit_ha=0.1,
                      method=method)
    assert len(sites.mining) == 1
    row, feats = sites.mining.iloc[0], sites.features.iloc[0]
    assert feats["mean_score"] == pytest.approx(0.8)
    assert feats["persistence"] == 1.0 and feats["n_periods"] == 3 and feats["area_ha"] == 0.25
    if method is not None:  # both methods are calibrated (geomon/confidence_calibration.json)
        cal = load_calibrations()[method]
        assert row["confidence_basis"] == cal.basis
        assert row["confidence"] == pytest.approx(cal.predict(sites.features)[0], abs=5e-4)
    else:
        assert row["confidence_basis"] == HEURISTIC
        assert row["confidence"] == pytest.approx(0.4 * 0.8 + 0.6 * 1.0)


def test_brier_score_known_case():
    assert brier_score([0.9, 0.2, 0.6], [1, 0, 0]) == pytest.approx((0.01 + 0.04 + 0.36) / 3)
    assert brier_score([1, 0], [1, 0]) == 0.0
    assert math.isnan(brier_score([], []))


def test_ece_and_reliability_table_known_case():
    p, y = [0.1, 0.15, 0.9, 0.95, 1.0], [0, 1, 1, 1, 0]
    table = reliability_table(p, y, bins=5)
    assert [b.count for b in table] == [2, 0, 0, 0, 3]  # 1.0 falls in the last bin
    assert table[0].mean_predicted == pytest.approx(0.125) and table[0].observed == 0.5
    assert table[4].mean_predicted == pytest.approx(0.95)
    assert table[4].observed == pytest.approx(2 / 3)
    assert math.isnan(table[1].mean_predicted)
    # (2·|0.125 − 0.5| + 3·|0.95 − 2/3|) / 5
    assert expected_calibration_error(p, y, bins=5) == pytest.approx((0.75 + 0.85) / 5)
    assert expected_calibration_error([0.25, 0.25, 0.25, 0.25], [1, 0, 0, 0]) == 0.0


def test_polygon_truth_share():
    transform = Affine(10, 0, 0, 0, -10, 100)  # 10 x 10 px
    truth = np.zeros((10, 10), bool)
    truth[0:2, 0:4] = True  # 8 px
    half = box(0, 60, 40, 100)  # rows 0-3, cols 0-3: 16 px, 8 of them truth
    outside = box(60, 0, 100, 40)
    within = np.ones((10, 10), bool)
    within[2:4, :] = False  # rows 2-3 outside the AOI
    np.testing.assert_allclose(polygon_truth_share([half, outside], truth, transform), [0.5, 0])
    np.testing.assert_allclose(polygon_truth_share([half], truth, transform, within=within), [1.0])
