"""Rebuild the Sentinel Hub recordings of this folder from the test scene (run from the repo root).

The recordings follow the shapes of CDSE's answers (``sh.dataspace.copernicus.eu``, Catalog API
1.0.0 and the Keycloak token endpoint of ``identity.dataspace.copernicus.eu``), with the item ids,
times and cloud cover of the simulated scene the tests render Process API answers from:
``generate_scene(scenario="seguela", seed=5, size=64, start="2024-01-01", end="2024-03-31")``.

    .venv/bin/python tests/data/sentinelhub/make_recordings.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENE = {"scenario": "seguela", "seed": 5, "size": 64, "start": "2024-01-01", "end": "2024-03-31"}
PAGE = 10


def cdse_id(item: dict) -> str:
    """A CDSE product id in the SAFE naming convention for a scene item."""
    t = item["properties"]["datetime"]
    stamp = t[:19].replace("-", "").replace(":", "")
    sat = item["properties"]["platform"][-1].upper()
    tile = "".join(str(item["properties"][k]) for k in
                   ("mgrs:utm_zone", "mgrs:latitude_band", "mgrs:grid_square"))
    return f"S2{sat}_MSIL2A_{stamp}_N0510_R051_T{tile}_{stamp[:8]}T155524.SAFE"


def feature(item: dict) -> dict:
    p = item["properties"]
    return {
        "stac_version": "1.0.0",
        "stac_extensions": ["https://stac-extensions.github.io/eo/v1.0.0/schema.json",
                            "https://stac-extensions.github.io/projection/v1.0.0/schema.json"],
        "id": cdse_id(item),
        "type": "Feature",
        "geometry": item["geometry"],
        "bbox": item["bbox"],
        "properties": {"datetime": p["datetime"][:23] + "Z", "eo:cloud_cover": p["eo:cloud_cover"],
                       "platform": p["platform"], "s2:processing_baseline": "05.10"},
        "assets": {},
        "links": [],
        "collection": "sentinel-2-l2a",
    }


def main() -> None:
    sys.path.insert(0, str(HERE.parents[2]))
    from geomon.sample import generate_scene

    with tempfile.TemporaryDirectory() as tmp:
        scene = generate_scene(Path(tmp) / "s", workers=1, **SCENE)
        items = json.loads(scene.item_collection.read_text())["features"]
    feats = [feature(i) for i in sorted(items, key=lambda i: i["properties"]["datetime"])]
    pages = [feats[i:i + PAGE] for i in range(0, len(feats), PAGE)]
    for n, page in enumerate(pages, start=1):
        nxt = n * PAGE if n < len(pages) else None
        doc = {"type": "FeatureCollection", "features": page,
               "links": [{"href": "https://sh.dataspace.copernicus.eu/api/v1/catalog/1.0.0/search",
                          "rel": "self", "type": "application/json"}],
               "context": {"limit": 100, "returned": len(page), **({"next": nxt} if nxt else {})}}
        (HERE / f"catalog-page-{n}.json").write_text(json.dumps(doc, indent=1) + "\n")
    token = {"access_token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJnZW9tb24tdGVzdCJ9.c2lnbmF0dXJl",
             "expires_in": 600, "refresh_expires_in": 0, "token_type": "Bearer",
             "not-before-policy": 0, "scope": "email profile user-context"}
    (HERE / "token.json").write_text(json.dumps(token, indent=1) + "\n")
    (HERE / "token-error.json").write_text(json.dumps(
        {"error": "unauthorized_client", "error_description": "Invalid client or Invalid client "
         "credentials"}, indent=1) + "\n")


if __name__ == "__main__":
    main()
