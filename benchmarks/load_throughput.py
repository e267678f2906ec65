"""Load throughput: the same COGs read from local disk and over loopback HTTP, in one run.

Generates a scene (or reuses one), then loads all its acquisitions onto the AOI grid through the
product path (:func:`geomon.sources._load_items.load_items`: pre-flight, odc-stac, reflectance)
twice per round: from ``file://`` hrefs and from ``http://127.0.0.1`` hrefs served by a
range-capable server (as object storage serves them). Prints MB/s of COG bytes for each and the
HTTP/disk ratio (best of ``--rounds``). Usage::

    .venv/bin/python benchmarks/load_throughput.py [--size 512] [--rounds 3] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BAND_FILES = ("B02", "B03", "B04", "B08", "B8A", "B11", "B12", "SCL")


def _cog_bytes(scene) -> int:
    return sum(p.stat().st_size for p in (scene.root / "items").glob("*/*.tif")
               if p.stem in BAND_FILES)


def _timed_load(items, aoi, chunk_px: int) -> float:
    import dask

    from geomon.sources._load_items import load_items
    from geomon.sources._retry import RetryPolicy

    t0 = time.perf_counter()
    cube = load_items(items, aoi, chunk_px=chunk_px, policy=RetryPolicy(retries=2))
    with dask.config.set(scheduler="threads"):
        cube.data.compute()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=512, help="scene side, px (10 m)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--chunk-px", type=int, default=512)
    p.add_argument("--out", type=Path, default=None, help="scene folder (default: a temp dir)")
    args = p.parse_args(argv)

    import pystac

    from geomon.aoi import AOI
    from geomon.sample import generate_scene, scene_footprint
    from tests.integration.servers import range_http_server

    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp) / "scene"
        kw = {"scenario": "seguela", "seed": 1, "size": args.size, "start": "2024-01-01",
              "end": "2024-02-29", "workers": 2}
        scene = generate_scene(root, **kw)
        aoi = AOI(id="bench", name="bench", country="CIV", deposit_type="alluvial",
                  catchment="x", notes="", geometry=scene_footprint("seguela", args.size))
        mb = _cog_bytes(scene) / 1e6
        disk_items = list(pystac.ItemCollection.from_file(str(scene.item_collection)).items)
        with range_http_server(scene.root) as base:
            http_scene = generate_scene(root, href_prefix=base, **kw)
            http_items = list(pystac.ItemCollection.from_file(
                str(http_scene.item_collection)).items)
            assert http_items[0].assets["red"].href.startswith("http://127.0.0.1")
            disk, http = [], []
            for _ in range(args.rounds):  # interleaved, so drift hits both alike
                disk.append(_timed_load(disk_items, aoi, args.chunk_px))
                http.append(_timed_load(http_items, aoi, args.chunk_px))
        d, h = mb / min(disk), mb / min(http)
        print(f"scene {args.size} px, {scene.n_items} acquisitions, {mb:.1f} MB of COGs "
              f"(8 assets each), best of {args.rounds}")
        print(f"local disk   : {min(disk):6.2f} s  {d:7.1f} MB/s")
        print(f"loopback HTTP: {min(http):6.2f} s  {h:7.1f} MB/s")
        print(f"HTTP / disk throughput ratio: {h / d:.2f}")


if __name__ == "__main__":
    main()
