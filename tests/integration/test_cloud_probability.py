"""s2cloudless on the Level-1C twins of a generated scene, through the STAC source, against truth.

The simulator writes each L2A item's L1C twin (``generate_scene(..., l1c=True)``) and knows where
it put the clouds and the spoil (re-rendered by :func:`geomon.sample._sky_truth.sky_truth`), so the
mask with the model can be scored against SCL alone on the same pixels.
"""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest

from geomon.cloudprob import CLOUD_PROB
from geomon.config import SourceConfig
from geomon.errors import GeomonError
from geomon.mask import clear_sky
from geomon.sources import make_source
from geomon.sources._l1c import pair_twins
from geomon.testing import raise_if_dask_computes
from tests.integration.servers import range_http_server, rustac_binary, rustac_server

pytestmark = pytest.mark.integration


#: A wet-season scene: many clouds, digging under way.
SCENE = {"scenario": "seguela", "seed": 3, "size": 128, "start": "2024-05-01",
         "end": "2024-08-31"}
SMALL = {"scenario": "seguela", "seed": 3, "size": 64, "start": "2024-05-01",
         "end": "2024-05-20"}


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    from geomon.sample import generate_scene

    return generate_scene(tmp_path_factory.mktemp("cp") / "scene", workers=1, l1c=True, **SCENE)


def _aoi(scene):
    from geomon.aoi import AOI
    from geomon.sample import scene_footprint

    geom = scene_footprint(scene.scenario, scene.size).buffer(-0.0002)
    return AOI(id="scene", name="scene", country="CIV", deposit_type="alluvial",
               catchment="x", notes="", geometry=geom)


def _load(scene, **kw):
    src = make_source(SourceConfig(kind="stac", catalog=scene.catalog, max_cloud_cover=100))
    return src.load(_aoi(scene), scene.start, scene.end, chunk_px=1024, **kw)


@pytest.fixture(scope="module")
def computed(scene):
    from geomon.sample._sky_truth import sky_truth

    ds = _load(scene, cloud_probability=True).data.compute()
    return ds, sky_truth(scene, ds)


def test_l1c_twins_leave_the_l2a_items_unchanged(tmp_path):
    from geomon.sample import generate_scene

    plain = generate_scene(tmp_path / "plain", workers=1, **SMALL)
    twins = generate_scene(tmp_path / "twins", workers=1, l1c=True, **SMALL)
    l2a = sorted(p.relative_to(plain.root) for p in plain.root.glob("items/*_L2A/*.tif"))
    assert l2a and l2a == sorted(p.relative_to(twins.root)
                                 for p in twins.root.glob("items/*_L2A/*.tif"))
    for rel in l2a:
        assert (plain.root / rel).read_bytes() == (twins.root / rel).read_bytes(), rel
    assert not list(plain.root.glob("items/*_L1C"))

    features = json.loads(twins.item_collection.read_text())["features"]
    by_coll = {c: [f for f in features if f["collection"] == c]
               for c in ("sentinel-2-l2a", "sentinel-2-l1c")}
    assert len(by_coll["sentinel-2-l1c"]) == len(by_coll["sentinel-2-l2a"]) == twins.n_items
    one = by_coll["sentinel-2-l1c"][0]
    assert one["id"].endswith("_L1C") and one["properties"]["s2:product_type"] == "S2MSI1C"
    assert set(one["assets"]) == {"coastal", "blue", "red", "rededge1", "nir", "nir08",
                                  "nir09", "cirrus", "swir16", "swir22"}
    assert one["assets"]["cirrus"]["gsd"] == 60 and one["assets"]["nir"]["gsd"] == 10
    assert one["assets"]["cirrus"]["raster:bands"][0]["offset"] == -0.1
    twin = next(f for f in by_coll["sentinel-2-l2a"] if f["id"] == one["id"][:-3] + "L2A")
    assert one["properties"]["datetime"] == twin["properties"]["datetime"]


def test_twins_pair_by_tile_platform_and_time(scene):
    import pystac

    items = list(pystac.read_file(str(scene.catalog)).get_items(recursive=True))
    l2a = [i for i in items if i.collection_id == "sentinel-2-l2a"]
    l1c = [i for i in items if i.collection_id == "sentinel-2-l1c"]
    pairs = pair_twins(l2a, l1c)
    assert len(pairs) == len(l2a) and all(pairs[i.id].id == i.id[:-3] + "L1C" for i in l2a)

    moved, other = l1c[0].clone(), l1c[1].clone()
    moved.datetime += timedelta(minutes=5)  # not the same acquisition
    other.properties["platform"] = "sentinel-2c"
    assert pair_twins(l2a[:2], [moved, other]) == {}


def test_cloud_probability_stays_lazy_until_the_reduction(scene):
    with raise_if_dask_computes():
        cube = _load(scene, cloud_probability=True)
        clear = clear_sky(cube.data, buffer_px=2, cloud_probability_threshold=0.4)
        counts = clear.sum("time")
    assert cube.data[CLOUD_PROB].dtype == np.float32
    assert cube.data[CLOUD_PROB].chunks[1:] == cube.data.blue.chunks[1:]
    assert int(counts.max()) > 0


def test_a_window_sees_the_same_probability_as_the_whole_grid(scene, computed):
    ds, _ = computed
    cube = _load(scene, cloud_probability=True)
    grid = cube.data.odc.geobox
    win = cube.window(grid[7:50, 13:61]).compute()  # not aligned with the 60 m model grid
    np.testing.assert_array_equal(win[CLOUD_PROB].values,
                                  ds[CLOUD_PROB].values[:, 7:50, 13:61])


def test_model_catches_cloud_scl_misses_and_spares_the_spoil(computed):
    ds, truth = computed
    valid = ds.blue.notnull().values
    scl = ds.scl.values
    prob = ds[CLOUD_PROB].values
    assert np.isfinite(prob[valid]).all()
    cloud = truth.cloud & valid
    missed = cloud & ~np.isin(scl, (8, 9, 10))  # thin cloud edges and cirrus SCL calls ground
    assert missed.sum() > 1000

    # the raw model finds most of what SCL missed
    assert (prob[missed] >= 0.4).mean() > 0.5

    def masked(threshold, buffer_px):
        clear = clear_sky(ds, buffer_px=buffer_px, cloud_probability_threshold=threshold)
        return ~clear.values & valid

    for buffer_px in (0, 2):
        scl_only, both = masked(None, buffer_px), masked(0.4, buffer_px)
        assert not (scl_only & ~both).any()  # the model only adds cloud
        gain = both[missed].mean() - scl_only[missed].mean()
        assert gain > 0.05, (buffer_px, gain)
        assert both[cloud].mean() > scl_only[cloud].mean()

    # bright spoil on digging sites under a clear sky: the model calls part of it cloud ...
    spoil = (truth.spoil > 0.5) & valid & (truth.opacity == 0) & ~truth.cloud
    assert spoil.sum() > 200
    assert (prob[spoil] >= 0.4).mean() > 0.05
    # ... and the guarded mask loses (almost) none of it to the model
    lost = masked(0.4, 2)[spoil].mean() - masked(None, 2)[spoil].mean()
    assert lost < 0.02, lost


def test_a_catalogue_without_l1c_twins_is_a_clear_error(tmp_path):
    from geomon.sample import generate_scene

    plain = generate_scene(tmp_path / "plain", workers=1, **SMALL)
    with pytest.raises(GeomonError) as err:
        _load(plain, cloud_probability=True)
    assert err.value.field == "mask.cloud_probability"
    assert "Level-1C twins" in str(err.value)


def test_a_tiled_run_with_the_model_uses_other_views_and_keeps_the_sites(scene, tmp_path, cli):
    from shapely.geometry import mapping

    from geomon.sample import scene_footprint
    from tests.helpers import write_aoi, write_pipeline
    from tests.integration.conftest import RUN_OK

    write_aoi(tmp_path / "aoi", "scene", geometry=mapping(
        scene_footprint(scene.scenario, scene.size).buffer(-0.0002)))
    common = {"aoi": "scene", "aoi_dir": "aoi", "start": "2024-07-01", "end": "2024-08-31",
              "source": {"kind": "stac", "catalog": str(scene.catalog), "max_cloud_cover": 100},
              "estimate": {"enabled": False},
              "compute": {"tile_px": 64, "cache": False}}  # 2 x 2 tiles, with halos
    runs = {}
    for name, mask in (("scl", {}), ("model", {"cloud_probability": "s2cloudless"})):
        code, _out, err = cli("run", write_pipeline(tmp_path, name, mask=mask, **common))
        assert code in RUN_OK, err
        (runs[name],) = (tmp_path / "out" / name).iterdir()
    manifest = json.loads((runs["model"] / "manifest.json").read_text())
    assert '"cloud_probability": "s2cloudless"' in json.dumps(manifest)

    import rasterio

    def composite(run):
        with rasterio.open(run / "composites" / "2024Q3.tif") as src:
            return src.read()

    scl_only, model = composite(runs["scl"]), composite(runs["model"])
    assert scl_only.shape == model.shape and (scl_only != model).any()  # other views were used
    sites = {n: json.loads((r / "detections.geojson").read_text())["features"]
             for n, r in runs.items()}
    assert sites["scl"] and len(sites["model"]) >= 0.8 * len(sites["scl"])


@pytest.mark.skipif(rustac_binary() is None, reason="rustac not installed")
def test_twins_found_through_a_stac_api_give_the_same_probability(tmp_path):
    from geomon.sample import generate_scene

    scene = generate_scene(tmp_path / "twins", workers=1, l1c=True, **SMALL)
    ref = _load(scene, cloud_probability=True).data[CLOUD_PROB].compute()
    with range_http_server(scene.root) as base:
        served = generate_scene(scene.root, workers=1, l1c=True, href_prefix=base, **SMALL)
        with rustac_server(served.item_collection) as api:
            src = make_source(SourceConfig(kind="stac", url=api, max_cloud_cover=100,
                                           retries=2, backoff_s=0.05, timeout_s=10))
            got = src.load(_aoi(scene), scene.start, scene.end, chunk_px=1024,
                           cloud_probability=True).data[CLOUD_PROB].compute()
    assert np.isfinite(got.values).any()
    np.testing.assert_array_equal(got.values, ref.values)
