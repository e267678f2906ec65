"""Importing decisions: an edited GeoPackage or the page's JSON; bad input changes nothing."""

from __future__ import annotations

import json

import pyogrio
import pytest
from click.testing import CliRunner

from geomon.errors import GeomonError
from geomon.review import ReviewStore, export_package, import_decisions
from geomon.review.commands import review
from tests.unit.test_review_runfolder import (
    make_run_folder,
    package_copy,
    package_template,
    square,
)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return package_template(tmp_path_factory.mktemp("template"), [
        square(100, 100, 100), square(400, 300, 60), square(200, 450, 40)])


@pytest.fixture
def pkg(template, tmp_path):
    return package_copy(template, tmp_path)


def edit(path, changes, layer="sites"):
    """Edit rows of a GeoPackage layer in place, as QGIS would: {row: {column: value}}."""
    t = pyogrio.read_dataframe(path, layer=layer)
    for row, cols in changes.items():
        for col, value in cols.items():
            t.loc[row, col] = value
    pyogrio.write_dataframe(t, path, layer=layer)
    return t


def statuses(pkg):
    st = ReviewStore(pkg.store)
    keys = json.loads((pkg.root / "package.json").read_text())["sites"]
    states = st.states(keys.values())
    return {sid: states[k].status for sid, k in keys.items()}


def test_geopackage_round_trip(pkg):
    edit(pkg.gpkg, {0: {"review_status": "confirmed", "reviewer": "alice"},
                    1: {"review_status": "Rejected", "reviewer": "alice", "note": "a field"},
                    2: {"review_status": "needs field visit", "reviewer": "bob"}})
    result = import_decisions(pkg.gpkg, store=pkg.store)
    assert (result.recorded, result.unchanged, result.rows, result.aoi_id) == (3, 0, 3, "fake")
    assert statuses(pkg) == {"fake-0001": "confirmed", "fake-0002": "rejected",
                             "fake-0003": "needs_field_visit"}
    st = ReviewStore(pkg.store)
    key2 = st.key_for("run-1", "fake-0002")
    (dec,) = st.state(key2).history
    assert (dec.reviewer, dec.note, dec.source) == ("alice", "a field", "import:sites.gpkg")
    # importing the same file again adds nothing
    assert import_decisions(pkg.gpkg, store=pkg.store).recorded == 0
    assert st.count_decisions() == 3


def test_geopackage_reviewer_rules(pkg):
    edit(pkg.gpkg, {0: {"review_status": "confirmed"}})
    with pytest.raises(GeomonError, match=r"no reviewer") as err:
        import_decisions(pkg.gpkg, store=pkg.store)
    assert err.value.field == "sites[0].reviewer" and err.value.path == pkg.gpkg
    assert import_decisions(pkg.gpkg, store=pkg.store, reviewer="carol").recorded == 1
    # a new package now shows carol; changing the status without changing her name is refused
    again = export_package(pkg.root.parent / "outputs" / "pipe" / "run-1",
                           out=pkg.root, store=pkg.store)
    edit(again.gpkg, {0: {"review_status": "rejected"}})
    with pytest.raises(GeomonError, match="still 'carol'"):
        import_decisions(again.gpkg, store=pkg.store)
    assert import_decisions(again.gpkg, store=pkg.store, reviewer="carol").recorded == 1
    assert statuses(pkg)["fake-0001"] == "rejected"


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({1: {"review_status": "confirm", "reviewer": "x"}}, "sites[1].review_status",
     "unknown status 'confirm'"),
    ({1: {"review_status": "confirmed", "reviewer": "x", "site_key": "fake-knope"}},
     "sites[1].site_key", "unknown site_key"),
    ({1: {"review_status": "confirmed", "reviewer": "x", "site_key": "", "id": "fake-9999"}},
     "sites[1].id", "unknown site id 'fake-9999'"),
    ({1: {"review_status": "confirmed", "reviewer": "x", "id": "fake-9999"}},
     "sites[1].id", "unknown site id 'fake-9999'"),
    ({1: {"review_status": "confirmed", "reviewer": "x", "reviewed_at": "last tuesday"}},
     "sites[1].reviewed_at", "bad time"),
    ({0: {"aoi": "elsewhere"}, 1: {"aoi": "elsewhere"}, 2: {"aoi": "elsewhere"}},
     "aoi", "AOI 'elsewhere' has no sites"),
])
def test_bad_geopackage_changes_nothing(pkg, changes, field, message):
    # a good change in the same file must not be recorded either
    edit(pkg.gpkg, {0: {"review_status": "confirmed", "reviewer": "alice"}, **changes})
    with pytest.raises(GeomonError, match=message) as err:
        import_decisions(pkg.gpkg, store=pkg.store)
    assert err.value.field == field
    assert str(pkg.gpkg) in str(err.value)
    assert ReviewStore(pkg.store).count_decisions() == 0


def test_file_from_another_aoi(pkg, tmp_path):
    other_run = make_run_folder(tmp_path / "o", [square(0, 0, 80)], aoi_id="other",
                                run_id="run-9")
    other = export_package(other_run, out=tmp_path / "other-pkg", store=pkg.store)
    edit(other.gpkg, {0: {"review_status": "rejected", "reviewer": "alice"}})
    with pytest.raises(GeomonError, match="file is for AOI 'other', not 'fake'") as err:
        import_decisions(other.gpkg, store=pkg.store, aoi="fake")
    assert err.value.field == "aoi"
    # keys of one AOI under another AOI's name
    t = edit(pkg.gpkg, {0: {"review_status": "rejected", "reviewer": "alice"}})
    t["aoi"] = "other"
    pyogrio.write_dataframe(t, pkg.gpkg, layer="sites")
    with pytest.raises(GeomonError, match="belongs to AOI 'fake', not 'other'"):
        import_decisions(pkg.gpkg, store=pkg.store)
    assert ReviewStore(pkg.store).count_decisions() == 0


def page_json(pkg, decisions, **top):
    doc = {"format": "geomon-review-decisions", "version": 1, "aoi": "fake", "run_id": "run-1",
           "decisions": decisions, **top}
    path = pkg.root.parent / "decisions.json"
    path.write_text(json.dumps(doc))
    return path


def test_page_json_round_trip(pkg):
    keys = json.loads((pkg.root / "package.json").read_text())["sites"]
    path = page_json(pkg, [
        {"site_key": keys["fake-0001"], "site_id": "fake-0001", "status": "confirmed",
         "reviewer": "dana", "note": "clear pits", "reviewed_at": "2026-11-28T10:00:00.000Z"},
        {"site_key": keys["fake-0002"], "status": "rejected", "reviewer": "dana",
         "reviewed_at": "2026-11-28T10:01:00Z"},
    ])
    assert import_decisions(path, store=pkg.store).recorded == 2
    assert import_decisions(path, store=pkg.store).recorded == 0
    st = ReviewStore(pkg.store).state(keys["fake-0001"])
    assert (st.status, st.note, st.reviewed_at) == ("confirmed", "clear pits",
                                                    "2026-11-28T10:00:00.000Z")


@pytest.mark.parametrize(("decision", "top", "field"), [
    ({"status": "maybe"}, {}, "decisions[0].status"),
    ({"reviewer": ""}, {}, "decisions[0].reviewer"),
    ({"site_key": "fake-kdeadbeef"}, {}, "decisions[0].site_key"),
    ({"site_id": "fake-0003"}, {}, "decisions[0].id"),
    ({}, {"aoi": "elsewhere"}, "aoi"),
    ({}, {"format": "something-else"}, "format"),
])
def test_bad_page_json_changes_nothing(pkg, decision, top, field):
    keys = json.loads((pkg.root / "package.json").read_text())["sites"]
    good = {"site_key": keys["fake-0002"], "status": "confirmed", "reviewer": "dana",
            "reviewed_at": "2026-11-28T10:00:00Z"}
    bad = {"site_key": keys["fake-0001"], "site_id": "fake-0001", "status": "confirmed",
           "reviewer": "dana", "reviewed_at": "2026-11-28T10:00:00Z", **decision}
    path = page_json(pkg, [bad, good], **top)
    with pytest.raises(GeomonError) as err:
        import_decisions(path, store=pkg.store)
    assert err.value.field == field and err.value.path == path
    assert ReviewStore(pkg.store).count_decisions() == 0


def test_import_command(pkg):
    edit(pkg.gpkg, {2: {"review_status": "rejected", "reviewer": "erin"}})
    runner = CliRunner()
    result = runner.invoke(review, ["import", str(pkg.gpkg), "--store", str(pkg.store)])
    assert result.exit_code == 0, result.output
    assert "1 decisions recorded, 2 unchanged" in result.output
    bad = runner.invoke(review, ["import", str(pkg.gpkg), "--store", str(pkg.store),
                                 "--aoi", "other"])
    assert isinstance(bad.exception, GeomonError)  # geomon's main() prints it as one line
    missing = runner.invoke(review, ["import", str(pkg.gpkg), "--store",
                                     str(pkg.root / "none.sqlite")])
    assert "no review store" in str(missing.exception)
