"""The review store: append-only audit, conflicts, all-or-nothing writes; training labels and
the rejected-ground mask."""

from __future__ import annotations

import sqlite3

import geopandas as gpd
import pytest
from affine import Affine
from shapely.geometry import box

from geomon.errors import GeomonError
from geomon.review import (
    Decision,
    ReviewStore,
    apply_reviews,
    rejected_mask,
    training_labels,
)
from geomon.review._decisions import latest_state, parse_time

CRS = "EPSG:32629"


@pytest.fixture
def store(tmp_path):
    st = ReviewStore(tmp_path / "review.sqlite")
    st.register("fake", CRS, [box(0, 0, 100, 100), box(500, 0, 560, 60), box(900, 0, 940, 40)],
                ["fake-0001", "fake-0002", "fake-0003"], run_id="r1")
    return st


def keys(st):
    return [st.key_for("r1", f"fake-000{i}") for i in (1, 2, 3)]


def d(key, status, reviewer, when, note=""):
    return Decision(key, status, reviewer, note, parse_time(when))


def test_latest_state_rules():
    k = "k"
    assert latest_state(k, []).status == "pending"
    one = latest_state(k, [d(k, "confirmed", "alice", "2026-01-01T10:00")])
    assert (one.status, one.reviewer) == ("confirmed", "alice")
    # a reviewer changing their mind: their latest counts
    mind = latest_state(k, [d(k, "confirmed", "alice", "2026-01-01"),
                            d(k, "rejected", "alice", "2026-01-02", "a field")])
    assert (mind.status, mind.note) == ("rejected", "a field")
    # two reviewers disagreeing: a conflict, whoever spoke last
    both = [d(k, "confirmed", "alice", "2026-01-01"), d(k, "rejected", "bob", "2026-01-02")]
    c = latest_state(k, both)
    assert c.status == "conflict" and c.conflict
    assert c.opinions == (("alice", "confirmed"), ("bob", "rejected"))
    # ... until they agree
    agreed = latest_state(k, [*both, d(k, "rejected", "alice", "2026-01-03")])
    assert (agreed.status, agreed.reviewer) == ("rejected", "alice")
    # withdrawing (back to pending) removes an opinion
    withdrawn = latest_state(k, [*both, d(k, "pending", "alice", "2026-01-03")])
    assert (withdrawn.status, withdrawn.reviewer) == ("rejected", "bob")
    # times are compared in UTC whatever zone they were written in
    tz = latest_state(k, [d(k, "confirmed", "alice", "2026-01-01T12:00+02:00"),
                          d(k, "rejected", "alice", "2026-01-01T11:00Z")])
    assert tz.status == "rejected"


def test_parse_time():
    assert parse_time("2026-11-28T12:00:00Z") == "2026-11-28T12:00:00.000Z"
    assert parse_time("2026-11-28T13:00:00+01:00") == "2026-11-28T12:00:00.000Z"
    with pytest.raises(GeomonError, match="reviewed_at"):
        parse_time("yesterday")


def test_every_decision_is_kept(store):
    k1 = keys(store)[0]
    store.record([d(k1, "confirmed", "alice", "2026-01-01")], source="test")
    store.record([d(k1, "rejected", "alice", "2026-01-02", "no pits")], source="test")
    st = store.state(k1)
    assert [h.status for h in st.history] == ["confirmed", "rejected"]
    assert all(h.recorded_at and h.source == "test" for h in st.history)
    with sqlite3.connect(store.path) as db:
        for sql in ("UPDATE decisions SET status = 'confirmed'", "DELETE FROM decisions",
                    "DELETE FROM footprints", "UPDATE sites SET aoi_id = 'x'",
                    "DELETE FROM aois"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(sql)
    assert store.count_decisions() == 2


def test_repeats_are_not_recorded_twice(store):
    k1 = keys(store)[0]
    one = d(k1, "confirmed", "alice", "2026-01-01")
    assert len(store.record([one], source="test")) == 1
    assert store.record([one], source="test") == []  # the same decision again
    assert store.record([d(k1, "confirmed", "alice", "2026-01-05")], source="test") == []
    assert len(store.record([d(k1, "confirmed", "bob", "2026-01-05")], source="test")) == 1
    assert store.count_decisions() == 2


def test_a_bad_batch_changes_nothing(store):
    k1, k2, _ = keys(store)
    good = d(k1, "confirmed", "alice", "2026-01-01")
    for bad, match in (
        (d("fake-knope", "confirmed", "alice", "2026-01-01"), "unknown site_key"),
        (d(k2, "confirm", "alice", "2026-01-01"), "unknown status"),
        (d(k2, "rejected", "  ", "2026-01-01"), "reviewer"),
    ):
        with pytest.raises(GeomonError, match=match):
            store.record([good, bad], source="test")
    assert store.count_decisions() == 0


def test_conflicts_show_in_apply_reviews(store, tmp_path):
    k1, k2, k3 = keys(store)
    store.record([d(k1, "confirmed", "alice", "2026-01-01"),
                  d(k1, "rejected", "bob", "2026-01-02"),
                  d(k2, "rejected", "alice", "2026-01-01"),
                  d(k3, "needs_field_visit", "bob", "2026-01-01")], source="test")
    mining = gpd.GeoDataFrame({"id": ["a", "b", "c"]},
                              geometry=[box(0, 0, 100, 100), box(500, 0, 560, 60),
                                        box(900, 0, 940, 40)], crs=CRS)
    out = apply_reviews(mining, aoi_id="fake", store=store.path)
    assert list(out["review_status"]) == ["conflict", "rejected", "needs_field_visit"]
    assert out["reviewer"][0] == "alice, bob"
    # what the pipeline leaves out of the estimate: only the agreed rejection
    assert list(out.loc[out["review_status"] != "rejected", "id"]) == ["a", "c"]


def test_training_labels(store):
    k1, k2, k3 = keys(store)
    store.record([d(k1, "confirmed", "alice", "2026-01-01"),
                  d(k2, "rejected", "alice", "2026-01-01", "cropland"),
                  d(k3, "needs_field_visit", "alice", "2026-01-01")], source="test")
    labels = training_labels(store.path, "fake")
    assert labels.crs.to_string() == CRS
    assert dict(zip(labels["site_key"], labels["label"], strict=True)) == {k1: 1, k2: 0}
    assert labels.set_index("site_key").geometry[k1].equals(box(0, 0, 100, 100))
    assert len(training_labels(store.path, "elsewhere")) == 0
    with pytest.raises(GeomonError, match="no review store"):
        training_labels(store.path.parent / "missing.sqlite", "fake")


def test_rejected_mask_matches_site_pixels():
    transform = Affine(10, 0, 0, 0, -10, 200)
    sites = gpd.GeoDataFrame(
        {"review_status": ["rejected", "confirmed", "conflict"]},
        geometry=[box(0, 100, 50, 200), box(100, 100, 200, 200), box(0, 0, 50, 50)], crs=CRS)
    mask = rejected_mask(sites, transform=transform, shape=(20, 20))
    assert mask.sum() == 50  # 5 x 10 pixels of the one rejected site
    assert mask[:10, :5].all() and not mask[:, 5:].any()
    assert not rejected_mask(sites.iloc[1:], transform=transform, shape=(20, 20)).any()


def test_store_from_the_future_is_refused(tmp_path):
    st = ReviewStore(tmp_path / "r.sqlite")
    st.aois()
    with sqlite3.connect(st.path) as db:
        db.execute("DROP TRIGGER IF EXISTS meta_no_update")
        db.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    with pytest.raises(GeomonError, match="newer"):
        st.aois()


def test_a_non_store_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "not.sqlite"
    bad.write_text("hello, this is not SQLite" * 100)
    with pytest.raises(GeomonError, match="review store"):
        ReviewStore(bad).aois()


def test_register_refuses_lonlat(tmp_path):
    with pytest.raises(GeomonError, match="projected"):
        ReviewStore(tmp_path / "r.sqlite").register("x", "EPSG:4326", [box(0, 0, 1, 1)], ["a"])
