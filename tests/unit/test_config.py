from __future__ import annotations

from datetime import date, timedelta

import pytest

from geomon.config import load_pipeline, make_periods
from geomon.errors import GeomonError
from tests.helpers import write_pipeline


def test_valid_pipeline_resolves_paths_against_its_folder(tmp_path):
    pipe = load_pipeline(write_pipeline(tmp_path))
    assert pipe.source.catalog == tmp_path / "catalog.json"
    assert pipe.outputs == tmp_path / "out"
    assert [p.label for p in pipe.periods()] == ["2024Q2", "2024Q3", "2024Q4"]
    assert [p.label for p in pipe.baseline()] == ["2024Q1"]


def test_quarters_and_months():
    q = make_periods(date(2023, 11, 15), date(2024, 2, 1), "quarter")
    assert [(p.label, p.start, p.end) for p in q] == [
        ("2023Q4", date(2023, 10, 1), date(2023, 12, 31)),
        ("2024Q1", date(2024, 1, 1), date(2024, 3, 31)),
    ]
    m = make_periods(date(2024, 1, 1), date(2024, 3, 31), "month")
    assert [p.days for p in m] == [31, 29, 31]


def test_two_baseline_periods_precede_start(tmp_path):
    pipe = load_pipeline(write_pipeline(tmp_path, baseline_periods=2))
    assert [p.label for p in pipe.baseline()] == ["2023Q4", "2024Q1"]


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"colour": "red"}, "colour", "unknown key"),
        ({"start": None}, "start", "missing required key"),
        ({"baseline_periods": "two"}, "baseline_periods", "integer"),
        ({"start": "2024-12-31", "end": "2024-01-01"}, None, "before start"),
        ({"end": (date.today() + timedelta(days=30)).isoformat()}, "end", "in the future"),
        ({"period": "fortnight"}, "period", "month"),
        ({"source": {"kind": "stac"}}, "source", "exactly one"),
        ({"detection": {"min_mapping_unit_ha": -1}}, "detection.min_mapping_unit_ha", "greater"),
    ],
)
def test_bad_pipeline_names_file_and_key(tmp_path, overrides, field, words):
    path = write_pipeline(tmp_path, **overrides)
    with pytest.raises(GeomonError) as err:
        load_pipeline(path)
    text = str(err.value)
    assert str(path) in text
    if field:
        assert err.value.field == field
    assert words in text


def test_unknown_nested_key_lists_the_known_ones(tmp_path):
    path = write_pipeline(tmp_path, detection={"method": "rules", "thresold": 1})
    with pytest.raises(GeomonError, match=r"detection\.thresold: unknown key") as err:
        load_pipeline(path)
    assert "min_mapping_unit_ha" in str(err.value)


def test_missing_pipeline_file(tmp_path):
    with pytest.raises(GeomonError, match="does not exist"):
        load_pipeline(tmp_path / "nope.yaml")


def test_end_latest_is_the_last_complete_period(tmp_path):
    from geomon.config import latest_complete_end

    pipe = load_pipeline(write_pipeline(tmp_path, end="latest", start="2024-04-01"))
    assert pipe.end == latest_complete_end("quarter", date.today()) < date.today()
    assert pipe.periods()[-1].end == pipe.end
    with pytest.raises(GeomonError, match="latest needs period"):
        load_pipeline(write_pipeline(tmp_path, end="latest", period="custom",
                                     custom_periods=[["2024-01-01", "2024-02-01"]]))


def test_since_until_override_the_dates_and_are_checked(tmp_path):
    pipe = load_pipeline(write_pipeline(tmp_path, start="2024-04-01", end="2024-09-30"))
    later = pipe.with_dates(None, date(2024, 12, 31))
    assert (later.start, later.end) == (date(2024, 4, 1), date(2024, 12, 31))
    assert [p.label for p in later.periods()] == ["2024Q2", "2024Q3", "2024Q4"]
    assert pipe.with_dates() is pipe
    with pytest.raises(GeomonError, match="future") as err:
        pipe.with_dates(None, date.today() + timedelta(days=1))
    assert "--until" in str(err.value)
    with pytest.raises(GeomonError, match="before start"):
        pipe.with_dates(date(2025, 1, 1), None)


def test_harmonic_needs_a_year_of_baseline(tmp_path):
    with pytest.raises(GeomonError, match="baseline_periods must be at least 4") as err:
        load_pipeline(write_pipeline(tmp_path, detection={"method": "harmonic"}))
    assert "harmonic" in str(err.value)
    pipe = load_pipeline(write_pipeline(tmp_path, detection={"method": "harmonic"},
                                        baseline_periods=4))
    assert len(pipe.baseline()) == 4


def test_cloud_probability_is_off_by_default(tmp_path):
    pipe = load_pipeline(write_pipeline(tmp_path))
    assert pipe.mask.cloud_probability is None
    assert pipe.mask.cloud_probability_threshold == 0.4


@pytest.mark.parametrize("source, words", [
    ({"kind": "local", "folder": "cogs"}, "local folder of L2A files"),
    ({"kind": "stac", "provider": "planetary-computer"}, "no L1C collection"),
])
def test_cloud_probability_refused_where_the_source_cannot_give_it(tmp_path, source, words):
    path = write_pipeline(tmp_path, source=source, mask={"cloud_probability": "s2cloudless"})
    with pytest.raises(GeomonError) as err:
        load_pipeline(path)
    assert err.value.field == "mask.cloud_probability"
    assert words in str(err.value) and str(path) in str(err.value)


def test_cloud_probability_without_the_package_names_the_extra(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "s2cloudless", None)  # import fails as if not installed
    stac = write_pipeline(tmp_path, mask={"cloud_probability": "s2cloudless"})
    with pytest.raises(GeomonError) as err:
        load_pipeline(stac)
    assert err.value.field == "mask.cloud_probability"
    assert "pip install 'geomon[cloudprob]'" in str(err.value)
    # Sentinel Hub serves the precomputed CLP band: no package needed
    sh = write_pipeline(tmp_path, "sh", source={"kind": "sentinelhub", "provider": "cdse"},
                        mask={"cloud_probability": "s2cloudless",
                              "cloud_probability_threshold": 0.6})
    assert load_pipeline(sh).mask.cloud_probability_threshold == 0.6


@pytest.mark.parametrize("mask, field", [
    ({"cloud_probability": "fmask"}, "mask.cloud_probability"),
    ({"cloud_probability": "s2cloudless", "cloud_probability_threshold": 1.5},
     "mask.cloud_probability_threshold"),
])
def test_bad_cloud_probability_keys_name_the_key(tmp_path, mask, field):
    with pytest.raises(GeomonError) as err:
        load_pipeline(write_pipeline(tmp_path, mask=mask))
    assert err.value.field == field
