"""The field-visit list: which sites, in which order, as CSV and GPX."""

from __future__ import annotations

import csv

import pyogrio
from click.testing import CliRunner

from geomon.review import Decision, ReviewStore, field_list
from geomon.review._decisions import utc_now
from geomon.review.commands import review
from tests.unit.test_review_runfolder import make_run_folder, square


def test_field_list_selection_and_order(tmp_path):
    # areas 1.0, 0.36, 0.64, 0.16, 0.49 ha; confidences chosen so priority differs from area
    geoms = [square(0, 0, 100), square(150, 0, 60), square(250, 0, 80), square(400, 0, 40),
             square(0, 200, 70)]
    conf = [0.95, 0.2, 0.5, 0.1, 0.9]
    run = make_run_folder(tmp_path, geoms, confidences=conf)
    store = ReviewStore(tmp_path / "review.sqlite")
    out = field_list(run, out=tmp_path / "visit", store=store.path, max_pending=2)
    # priority = area × (1 − confidence): 0.05, 0.288, 0.32, 0.144, 0.049
    rows = list(csv.DictReader((tmp_path / "visit" / "fieldlist.csv").open()))
    assert [r["id"] for r in rows] == ["fake-0003", "fake-0002"]  # the two most uncertain
    assert out.n_sites == 2

    key = {f"fake-000{i}": store.key_for("run-1", f"fake-000{i}") for i in range(1, 6)}
    now = utc_now()
    store.record([
        Decision(key["fake-0001"], "needs_field_visit", "alice", "access by the track", now),
        Decision(key["fake-0003"], "confirmed", "alice", "", now),
        Decision(key["fake-0005"], "confirmed", "alice", "", now),
        Decision(key["fake-0005"], "rejected", "bob", "", now),
    ], source="test")
    field_list(run, out=tmp_path / "visit", store=store.path, max_pending=1)
    rows = list(csv.DictReader((tmp_path / "visit" / "fieldlist.csv").open()))
    # flagged and conflicting sites always; then the single most uncertain pending one
    assert [(r["id"], r["review_status"]) for r in rows] == [
        ("fake-0002", "pending"), ("fake-0001", "needs_field_visit"), ("fake-0005", "conflict")]
    assert [float(r["priority"]) for r in rows] == [0.288, 0.05, 0.049]
    assert rows[1]["note"] == "access by the track" and "alice" in rows[1]["reason"]
    assert "alice, bob" in rows[2]["reason"]

    wpts = pyogrio.read_dataframe(tmp_path / "visit" / "fieldlist.gpx", layer="waypoints")
    assert list(wpts["name"]) == ["fake-0002", "fake-0001", "fake-0005"]
    assert wpts["desc"][1].startswith("1.00 ha, needs field visit")


def test_field_list_command_with_nothing_to_visit(tmp_path):
    run = make_run_folder(tmp_path, [])
    result = CliRunner().invoke(review, ["fieldlist", "--run", str(run), "--out",
                                         str(tmp_path / "v")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("0 sites to visit")
    # the default store sits next to the run's pipeline folder
    assert (run.parent.parent / "review.sqlite").exists()
    assert len(pyogrio.read_dataframe(tmp_path / "v" / "fieldlist.gpx", layer="waypoints")) == 0
