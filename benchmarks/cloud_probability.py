"""Cloud probability (s2cloudless) against SCL and the simulator's truth, and its cost per view.

Generates a scene with Level-1C twins (or reuses one), reads it through the product path
(:class:`geomon.sources.StacSource` with ``cloud_probability=True``), and in one run:

- times the model alone per view (60 m, what geomon runs; and 10 m, for comparison) on the
  scene's own TOA bands, with one LightGBM thread, and the whole ``cloud_prob`` path (reading
  the L1C bands, model, upsampling) against reading the L2A cube, on the threaded scheduler;
- scores, against the truth clouds re-rendered by the simulator: the raw cloud calls before the
  buffer (SCL 8, 9, 10; the model at the threshold; their union), and the product's clear-sky
  masks (:func:`geomon.mask.clear_sky`, bright-ground guard on) from SCL alone and from SCL
  with the model, without buffer and with the default buffer (2 px at 10 m): recall of the
  true cloud, share of cloud-free ground called cloud, share of the bright spoil on digging
  sites (under no cloud) called cloud, and share of the true cloud SCL misses that is caught.

Usage::

    .venv/bin/python benchmarks/cloud_probability.py [--size 256] [--seed 3] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _aoi(scene):
    from geomon.aoi import AOI
    from geomon.sample import scene_footprint

    return AOI(id="scene", name="scene", country="CIV", deposit_type="alluvial", catchment="x",
               notes="", geometry=scene_footprint(scene.scenario, scene.size).buffer(-0.0002))


def model_seconds(scene, views: int = 6) -> dict[str, float]:
    """Seconds per view of ``get_cloud_probability_maps`` at 60 m and at 10 m."""
    import rasterio

    from geomon.cloudprob import MODEL_BANDS, predict

    out = {}
    folders = sorted((scene.root / "items").glob("*_L1C"))[:views]
    predict(np.zeros((1, 8, 8, len(MODEL_BANDS)), np.float32))  # load the booster first
    for res in (60, 10):
        n = -(-scene.size * 10 // res)
        total = 0.0
        for folder in folders:
            stack = np.empty((n, n, len(MODEL_BANDS)), np.float32)
            for k, b in enumerate(MODEL_BANDS):
                with rasterio.open(folder / f"{b}.tif") as src:
                    stack[..., k] = src.read(1, out_shape=(n, n)) / 1e4 - 0.1
            t0 = time.perf_counter()
            predict(stack[None])
            total += time.perf_counter() - t0
        out[f"model_s_per_view_{res}m"] = total / len(folders)
    return out


def path_seconds(scene) -> dict[str, float]:
    """Seconds per view through the product path: the L2A cube, and ``cloud_prob`` alone.

    ``cloud_prob`` includes reading the ten L1C bands onto the 60 m grid; the ratio to the L2A
    cube's reading is what the option adds to a run's imagery step.
    """
    import dask

    from geomon.config import SourceConfig
    from geomon.sources import make_source

    src = make_source(SourceConfig(kind="stac", catalog=scene.catalog, max_cloud_cover=100))
    cube = src.load(_aoi(scene), scene.start, scene.end, chunk_px=1024, cloud_probability=True)
    views = cube.data.sizes["time"]
    out = {}
    with dask.config.set(scheduler="threads"):
        for name, part in (("l2a_cube", cube.data.drop_vars("cloud_prob")),
                           ("cloud_prob", cube.data["cloud_prob"])):
            t0 = time.perf_counter()
            part.compute()
            out[f"path_s_per_view_{name}"] = (time.perf_counter() - t0) / views
    out["path_ratio_cloud_prob_to_l2a"] = (out["path_s_per_view_cloud_prob"]
                                           / out["path_s_per_view_l2a_cube"])
    return out


def agreement(scene, threshold: float) -> dict[str, float]:
    """Recall and false-alarm share of each cloud mask against the truth clouds."""
    import dask

    from geomon.config import SourceConfig
    from geomon.mask import clear_sky
    from geomon.sample._sky_truth import sky_truth
    from geomon.sources import make_source

    src = make_source(SourceConfig(kind="stac", catalog=scene.catalog, max_cloud_cover=100))
    cube = src.load(_aoi(scene), scene.start, scene.end, chunk_px=1024, cloud_probability=True)
    with dask.config.set(scheduler="threads"):
        ds = cube.data.compute()
    truth = sky_truth(scene, ds)
    valid = ds.blue.notnull().values
    scl = ds.scl.values
    prob = ds.cloud_prob.values
    masks = {
        "scl": np.isin(scl, (8, 9, 10)),
        "model": prob >= threshold,
    }
    masks["union"] = masks["scl"] | masks["model"]
    for buffer_px in (0, 2):
        for name, thr in (("mask_scl", None), ("mask_scl_model", threshold)):
            clear_px = clear_sky(ds, buffer_px=buffer_px, cloud_probability_threshold=thr)
            masks[f"{name}_buffer{buffer_px}"] = ~clear_px.values & valid
    cloud, clear = truth.cloud & valid, ~truth.cloud & valid & (truth.opacity == 0)
    spoil = (truth.spoil > 0.5) & clear
    scl_missed = cloud & ~masks["scl"]
    out: dict[str, float] = {"views": int(ds.sizes["time"]), "truth_cloud_px": int(cloud.sum()),
                             "scl_missed_px": int(scl_missed.sum()),
                             "spoil_px": int(spoil.sum())}
    for name, m in masks.items():
        out[f"{name}_recall"] = float((m & cloud).sum() / max(cloud.sum(), 1))
        out[f"{name}_false_alarm_clear_sky"] = float((m & clear).sum() / max(clear.sum(), 1))
        out[f"{name}_calls_spoil_cloud"] = float((m & spoil).sum() / max(spoil.sum(), 1))
        out[f"{name}_catches_scl_missed"] = float((m & scl_missed).sum()
                                                  / max(scl_missed.sum(), 1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--start", default="2024-01-01")
    ap.add_argument("--end", default="2024-12-31")
    ap.add_argument("--threshold", type=float, default=0.4)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    from geomon.sample import generate_scene

    out = args.out or Path(tempfile.mkdtemp(prefix="geomon-cloudprob-"))
    t0 = time.perf_counter()
    scene = generate_scene(out / f"seguela-{args.seed}-{args.size}-l1c", seed=args.seed,
                           size=args.size, start=date.fromisoformat(args.start),
                           end=date.fromisoformat(args.end), l1c=True)
    result = {"scene": str(scene.root), "size": args.size, "seed": args.seed,
              "threshold": args.threshold, "scene_s": time.perf_counter() - t0}
    result.update(model_seconds(scene))
    result.update(path_seconds(scene))
    result.update(agreement(scene, args.threshold))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
