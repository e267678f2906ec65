"""A generated scene served like Earth Search: ``rustac serve`` + a range-capable HTTP server.

pystac-client searches the API, odc-stac loads the COGs over HTTP, and the result must equal the
load from the static catalog on disk: the sample and real data share one path (DESIGN.md 2).
"""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pystac
import pytest

from tests.integration.servers import range_http_server, rustac_binary, rustac_server

pytestmark = pytest.mark.integration

BANDS = ["blue", "red", "nir", "swir16", "scl"]


@pytest.fixture(scope="module")
def served_scene(tmp_path_factory):
    """A small scene whose item collection points at a loopback HTTP server (kept running)."""
    from geomon.sample import generate_scene

    root = tmp_path_factory.mktemp("served") / "scene"
    root.mkdir()
    with range_http_server(root) as base:
        scene = generate_scene(root, scenario="seguela", seed=7, size=64, start="2024-01-01",
                               end="2024-03-31", href_prefix=base, workers=1)
        yield scene, base


def test_http_server_honours_range_requests(served_scene):
    scene, base = served_scene
    rel = "items/" + json.loads(scene.item_collection.read_text())["features"][0]["id"]
    url = f"{base}{rel}/B04.tif"
    whole = urllib.request.urlopen(url).read()
    req = urllib.request.Request(url, headers={"Range": "bytes=4-19"})
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 206
        assert resp.headers["Content-Range"] == f"bytes 4-19/{len(whole)}"
        assert resp.read() == whole[4:20]


@pytest.mark.skipif(rustac_binary() is None, reason="rustac executable not installed")
def test_stac_api_search_and_load_equal_static_catalog(served_scene):
    import odc.stac
    import pystac_client

    scene, base = served_scene
    static = sorted(pystac.Catalog.from_file(str(scene.catalog)).get_items(recursive=True),
                    key=lambda i: i.datetime)
    assert len(static) == scene.n_items == 19

    with rustac_server(scene.item_collection) as api:
        client = pystac_client.Client.open(api)
        search = client.search(collections=["sentinel-2-l2a"], bbox=list(scene.bbox_lonlat),
                               datetime="2024-01-01/2024-03-31")
        found = sorted(search.items(), key=lambda i: i.datetime)
        assert [i.id for i in found] == [i.id for i in static]
        for item in found:
            for asset in item.assets.values():
                assert asset.href.startswith(base)  # absolute URLs survive the API
            assert item.assets["red"].extra_fields["raster:bands"][0]["offset"] == -0.1
        # A narrower search returns only what it should.
        feb = client.search(collections=["sentinel-2-l2a"], bbox=list(scene.bbox_lonlat),
                            datetime="2024-02-01/2024-02-29")
        want = {i.id for i in static if i.datetime.month == 2}
        assert {i.id for i in feb.items()} == want and len(want) == 5

        remote = odc.stac.load(found, bands=BANDS, crs=scene.crs, resolution=10).load()
    local = odc.stac.load(static, bands=BANDS, crs=scene.crs, resolution=10).load()
    assert dict(remote.sizes) == {"time": 19, "y": 64, "x": 64}
    for band in BANDS:
        assert remote[band].dtype == local[band].dtype
        np.testing.assert_array_equal(remote[band].values, local[band].values)
    assert (remote.red.values > 0).mean() > 0.5
