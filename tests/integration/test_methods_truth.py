"""Each detection method, through the real pipeline, on a generated two-year scene with truth."""

from __future__ import annotations

import pytest

from geomon.benchmark import write_scene_pipeline
from geomon.pipeline import run_pipeline
from geomon.scoring import score_run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def two_year_scene(tmp_path_factory):
    """A 128 px Séguéla-like scene over 2023-2024 (a tuning seed, not a scored one)."""
    from geomon.sample import generate_scene

    root = tmp_path_factory.mktemp("scene2y") / "seguela-128-2y"
    return generate_scene(root, scenario="seguela", seed=4, size=128, start="2023-01-01",
                          end="2024-12-31")


@pytest.fixture(scope="module")
def scores(runs, two_year_scene):
    """The time-series method and the naive baseline, with the same year of baseline (2023)
    and assessed quarters (2024). (The rule method is scored in test_cli_run.)"""
    return {method: score_run(run_dir, two_year_scene.root, method=method)
            for method, run_dir in runs.items()}


@pytest.fixture(scope="module")
def runs(two_year_scene, tmp_path_factory):
    """Run folders of the time-series method and the naive baseline (see ``scores``)."""
    work = tmp_path_factory.mktemp("methods")
    out = {}
    for method in ("harmonic", "naive"):
        pipe = write_scene_pipeline(work, two_year_scene, name=method, start="2023-01-01",
                                    end="2024-12-31", detection={"method": method},
                                    baseline_periods=4)
        out[method] = run_pipeline(pipe).run_dir
    return out


def test_harmonic_finds_the_digging_and_not_the_look_alikes(scores):
    # a 1.3 km scene holds a few small sites, so pixel F1 is lower than on the benchmark's
    s = scores["harmonic"]
    assert s.f1 >= 0.7, s
    assert s.object_recall >= 0.95, s
    # precision and recall apart, not only their net area: on this scene about a quarter of
    # the mapped pixels are old digging that revegetates (truth code 3), which used to be
    # offset by site borders the method missed (area error +19% from 0.74 precision and 0.88
    # recall); with borders recovered recall is about 0.99 and the area error about +35%
    assert s.precision >= 0.7 and s.recall >= 0.95, s
    assert abs(s.area_error) <= 0.45, s
    assert max(s.confounder_flagged_pct.values()) <= 3.0, s


def test_naive_baseline_is_far_worse(scores):
    naive = scores["naive"]
    assert naive.f1 < 0.2 * scores["harmonic"].f1
    assert max(naive.confounder_flagged_pct.values()) > 20.0


def test_digging_is_rougher_than_the_fields_flagged_beside_it(runs):
    """Pits among spoil make a site rough at 10 m; a harvested field is smooth (texture)."""
    import geopandas as gpd

    run = runs["harmonic"]
    mining = gpd.read_file(run / "detections.geojson")
    looks = gpd.read_file(run / "confounders.geojson")
    fields = looks[looks["class"] == "cropland"]
    assert len(mining) and len(fields), (len(mining), looks["class"].value_counts())
    assert mining["texture"].notna().all()
    assert mining["texture"].median() > 2 * fields["texture"].median(), (
        mining["texture"].describe(), fields["texture"].describe())
