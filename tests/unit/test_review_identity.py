"""Site identity across runs: the overlap rule, and keys and histories kept through re-runs,
splits and merges."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.affinity import translate
from shapely.geometry import box

from geomon.review import Decision, ReviewStore, apply_reviews, match_sites
from geomon.review._decisions import utc_now

CRS = "EPSG:32629"


def sq(x, y, size):
    return box(x, y, x + size, y + size)


def test_same_site_after_shift_or_buffer():
    known = {"a": sq(0, 0, 100), "b": sq(500, 0, 60), "tiny": sq(1000, 0, 32)}
    for moved in (
        [translate(g, 10, 0) for g in known.values()],
        [translate(g, 10, -10) for g in known.values()],   # one pixel diagonally
        [g.buffer(10, join_style="mitre") for g in known.values()],
        [g.buffer(-10, join_style="mitre") if g.area > 5000 else g for g in known.values()],
    ):
        matches = match_sites(moved, known)
        assert [(m.kind, m.parents) for m in matches] == [
            ("same", ("a",)), ("same", ("b",)), ("same", ("tiny",))]


def test_new_split_merge():
    known = {"a": sq(0, 0, 200), "b": sq(400, 0, 100), "c": sq(560, 0, 100)}
    new = [
        sq(0, 0, 90), sq(110, 0, 90),          # a split in two
        sq(400, 0, 260),                        # b and c merged (and the gap dug)
        sq(2000, 2000, 50),                     # new
    ]
    m = match_sites(new, known)
    assert [(x.kind, x.parents) for x in m] == [
        ("split", ("a",)), ("split", ("a",)), ("merge", ("b", "c")), ("new", ())]


def test_neighbours_more_than_a_pixel_apart_stay_apart():
    known = {"a": sq(0, 0, 100)}
    assert match_sites([sq(120, 0, 100)], known)[0].kind == "new"   # 20 m gap
    # a new patch that only touches the edge zone of a big known site is a new site
    assert match_sites([sq(105, 0, 60)], {"big": sq(0, 0, 100)})[0].kind == "new"


def test_one_pixel_tolerance_keeps_small_sites():
    tiny = sq(0, 0, 32)  # about 0.1 ha, the minimum mapping unit
    moved = translate(tiny, 10, -10)
    assert match_sites([moved], {"t": tiny})[0].kind == "same"
    # without the tolerance it keeps 47% of its area in place and would lose its identity
    assert match_sites([moved], {"t": tiny}, tolerance_m=0)[0].kind == "new"


def _register(store, geoms, run_id=None):
    ids = [f"fake-{i + 1:04d}" for i in range(len(geoms))]
    return store.register("fake", CRS, geoms, ids, run_id=run_id)


def _decide(store, key, status, reviewer, note=""):
    return store.record([Decision(key, status, reviewer, note, utc_now())], source="test")


def test_keys_and_decisions_survive_a_rerun(tmp_path):
    store = ReviewStore(tmp_path / "review.sqlite")
    run1 = [sq(0, 0, 100), sq(500, 0, 60), sq(1000, 0, 40)]
    ids1 = _register(store, run1, run_id="r1")
    k = [i.site_key for i in ids1]
    assert len(set(k)) == 3 and all(i.kind == "new" for i in ids1)
    _decide(store, k[0], "confirmed", "alice")
    _decide(store, k[1], "rejected", "alice", "cropland")

    # the same run again: the same keys, nothing new
    assert [i.site_key for i in _register(store, run1, run_id="r1")] == k
    # a re-run whose polygons moved by 10 m and grew by 10 m, in another order, plus a new site
    run2 = [sq(2000, 0, 50), translate(run1[1], 10, 10),
            run1[0].buffer(10, join_style="mitre"), translate(run1[2], -10, 0)]
    ids2 = _register(store, run2, run_id="r2")
    assert [i.site_key for i in ids2[1:]] == [k[1], k[0], k[2]]
    assert ids2[0].kind == "new" and ids2[0].site_key not in k
    states = store.states(i.site_key for i in ids2)
    assert [states[i.site_key].status for i in ids2] == [
        "pending", "rejected", "confirmed", "pending"]
    assert states[k[1]].note == "cropland"


def test_split_parts_inherit_history_and_then_diverge(tmp_path):
    store = ReviewStore(tmp_path / "review.sqlite")
    (a,) = _register(store, [sq(0, 0, 200)], run_id="r1")
    _decide(store, a.site_key, "confirmed", "alice", "pits visible")
    parts = _register(store, [sq(0, 0, 90), sq(110, 0, 90)], run_id="r2")
    assert [p.kind for p in parts] == ["split", "split"]
    assert all(p.parents == (a.site_key,) for p in parts)
    assert len({p.site_key for p in parts} | {a.site_key}) == 3
    assert store.lineage(parts[0].site_key) == [(a.site_key, "split")]
    for p in parts:
        st = store.state(p.site_key)
        assert (st.status, st.reviewer, st.note) == ("confirmed", "alice", "pits visible")
        assert [d.site_key for d in st.history] == [a.site_key]  # inherited, with its origin
    _decide(store, parts[1].site_key, "rejected", "alice", "that half is a field")
    assert store.state(parts[0].site_key).status == "confirmed"
    assert store.state(parts[1].site_key).status == "rejected"
    # the retired key is no longer matched; the parts are
    again = _register(store, [sq(0, 0, 90), sq(110, 0, 90)], run_id="r3")
    assert [i.site_key for i in again] == [p.site_key for p in parts]
    assert [i.kind for i in again] == ["same", "same"]


def test_merged_site_carries_both_histories(tmp_path):
    store = ReviewStore(tmp_path / "review.sqlite")
    b, c = _register(store, [sq(400, 0, 100), sq(560, 0, 100)], run_id="r1")
    _decide(store, b.site_key, "confirmed", "alice")
    _decide(store, c.site_key, "confirmed", "bob")
    (m,) = _register(store, [sq(400, 0, 260)], run_id="r2")
    assert m.kind == "merge" and m.parents == tuple(sorted([b.site_key, c.site_key]))
    st = store.state(m.site_key)
    assert st.status == "confirmed"
    assert {d.site_key for d in st.history} == {b.site_key, c.site_key}
    assert st.opinions == (("alice", "confirmed"), ("bob", "confirmed"))


def test_merge_of_disagreeing_sites_is_a_conflict(tmp_path):
    store = ReviewStore(tmp_path / "review.sqlite")
    b, c = _register(store, [sq(400, 0, 100), sq(560, 0, 100)])
    _decide(store, b.site_key, "confirmed", "alice")
    _decide(store, c.site_key, "rejected", "bob")
    (m,) = _register(store, [sq(400, 0, 260)])
    st = store.state(m.site_key)
    assert st.status == "conflict" and st.reviewer == "alice, bob"


def test_register_without_run_id_is_idempotent(tmp_path):
    store = ReviewStore(tmp_path / "review.sqlite")
    geoms = [sq(0, 0, 100), sq(500, 0, 60)]
    first = [i.site_key for i in _register(store, geoms)]
    assert [i.site_key for i in _register(store, geoms)] == first
    assert len(store.current_sites("fake")) == 2


def test_apply_reviews_on_rerun(tmp_path):
    store = tmp_path / "review.sqlite"
    mining = gpd.GeoDataFrame({"id": ["fake-0001", "fake-0002"], "area_ha": [1.0, 0.36]},
                              geometry=[sq(0, 0, 100), sq(500, 0, 60)], crs=CRS)
    first = apply_reviews(mining, aoi_id="fake", store=store, run_id="r1")
    assert list(first["review_status"]) == ["pending", "pending"]
    assert first["reviewed_at"].isna().all()
    _decide(ReviewStore(store), first["site_key"][1], "rejected", "carol")
    rerun = mining.copy()
    rerun["geometry"] = rerun.geometry.translate(10, 10)
    second = apply_reviews(rerun, aoi_id="fake", store=store, run_id="r2")
    assert list(second["site_key"]) == list(first["site_key"])
    assert list(second["review_status"]) == ["pending", "rejected"]
    assert second["reviewer"][1] == "carol" and second["reviewed_at"][1]
    # the input is not modified; the pipeline's columns are kept
    assert "site_key" not in rerun.columns and list(second.columns[:2]) == ["id", "area_ha"]


def test_apply_reviews_needs_a_projected_crs(tmp_path):
    from geomon.errors import GeomonError

    lonlat = gpd.GeoDataFrame({"id": ["x"]}, geometry=[sq(0, 0, 0.001)], crs=4326)
    with pytest.raises(GeomonError, match="UTM"):
        apply_reviews(lonlat, aoi_id="fake", store=tmp_path / "r.sqlite")


def test_apply_reviews_empty(tmp_path):
    empty = gpd.GeoDataFrame({"id": []}, geometry=[], crs=CRS)
    out = apply_reviews(empty, aoi_id="fake", store=tmp_path / "r.sqlite")
    assert len(out) == 0 and {"site_key", "review_status", "reviewer",
                              "reviewed_at"} <= set(out.columns)


def test_pixel_traced_rings_touching_at_a_corner():
    from shapely.geometry import Polygon

    from geomon.review._identity import polygonal

    # two pixels' worth of squares meeting at a corner, traced as one ring (as polygonize does
    # with 8-connectivity): invalid for GEOS
    ring = Polygon([(0, 0), (10, 0), (10, 10), (20, 10), (20, 20), (10, 20), (10, 10), (0, 10)])
    assert not ring.is_valid
    fixed = polygonal(ring)
    assert fixed.is_valid and fixed.area == pytest.approx(ring.area)
    big = translate(ring, 1000, 0)
    m = match_sites([ring, big], {"a": translate(ring, 5, 0), "b": big})
    assert [(x.kind, x.parents) for x in m] == [("same", ("a",)), ("same", ("b",))]
