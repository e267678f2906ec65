"""Scoring a run against a simulated scene's truth (DESIGN.md section 6).

Everything is compared on the scene's own 10 m grid, inside the AOI:

- pixel precision, recall, F1 and IoU of *mining*: a truth pixel is mining when it is new or active
  digging (codes 1, 2 of ``truth_periods.tif``) in any assessed period; a detected pixel is inside
  a ``detections.geojson`` polygon;
- object recall: truth sites of at least 0.5 ha (their part active in the assessed periods) that
  a detection covers by at least 10% or 0.1 ha;
- false-positive area per look-alike kind: detected pixels on that kind (``confounders.tif``) that
  are not truth mining, as a share of the kind's area;
- area error: (detected − true mining area) / true mining area;
- lag: for truth sites that start inside the assessed periods, the period in which the run first
  saw digging on the site minus the period the digging started, in periods;
- false-positive hectares per 100 km² (the figure that matters on the ``quiet`` scenario).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.features
from affine import Affine
from rasterio.warp import Resampling, reproject

from geomon.detect._base import CONFOUNDER_CODES

__all__ = ["Score", "score_run"]

MIN_SITE_HA = 0.5


@dataclass(frozen=True)
class Score:
    """Accuracy of one run against truth (see the module docstring for definitions)."""

    scenario: str
    seed: int
    method: str
    precision: float
    recall: float
    f1: float
    iou: float
    true_ha: float
    detected_ha: float
    area_error: float
    object_recall: float
    n_sites: int
    median_lag_periods: float
    false_positive_ha_per_100km2: float
    confounder_flagged_pct: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)


def score_run(run_dir: Path, scene_root: Path, *, method: str) -> Score:
    """Score the run in ``run_dir`` against the generated scene in ``scene_root``."""
    from geomon.sample import load_scene

    run_dir, scene = Path(run_dir), load_scene(scene_root)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assessed = [p["period"] for p in manifest["periods"]][len(_baseline(manifest)) :]
    transform, shape = Affine(*scene.transform[:6]), (scene.size, scene.size)
    crs = f"EPSG:{scene.epsg}"
    pixel_ha = abs(transform.a * transform.e) / 1e4

    inside = _rasterize(_aoi_geometry(manifest, crs), shape, transform)
    with rasterio.open(scene.truth_raster) as src:
        names = list(src.descriptions)
        truth = src.read([names.index(p) + 1 for p in assessed if p in names])
    truth_mining = np.isin(truth, (1, 2)).any(axis=0) & inside
    with rasterio.open(scene.root / "confounders.tif") as src:
        look_alike = src.read(1)

    det = gpd.read_file(run_dir / "detections.geojson")
    detected = inside & (
        _rasterize(det.to_crs(crs).geometry, shape, transform) if len(det) else False
    )
    tp = float((detected & truth_mining).sum())
    precision = tp / detected.sum() if detected.sum() else (1.0 if not truth_mining.any() else 0.0)
    recall = tp / truth_mining.sum() if truth_mining.sum() else 1.0
    union = (detected | truth_mining).sum()

    first_seen = _first_seen_index(run_dir, assessed, shape, transform, crs)
    sites = gpd.read_file(scene.truth).to_crs(crs) if scene.truth.exists() else None
    recalled, lags, n_sites = 0, [], 0
    for _, site in (sites.iterrows() if sites is not None and len(sites) else []):
        px = _rasterize([site.geometry], shape, transform) & truth_mining
        if px.sum() * pixel_ha >= MIN_SITE_HA:
            n_sites += 1
            hit = (detected & px).sum()
            recalled += hit >= 0.1 * px.sum() or hit * pixel_ha >= 0.1
        start = date.fromisoformat(str(site["first_disturbed"])[:10])
        true_idx = _period_index(start, manifest, assessed)
        seen = first_seen[px & detected]
        if true_idx is not None and (seen >= 0).any():
            lags.append(int(seen[seen >= 0].min()) - true_idx)

    area_km2 = inside.sum() * pixel_ha / 100
    flagged = {}
    for code, kind in CONFOUNDER_CODES.items():
        kind_px = (look_alike == code) & inside & ~truth_mining
        if code and kind_px.any():
            flagged[kind] = round(100 * float((detected & kind_px).sum() / kind_px.sum()), 2)
    fp_ha = float((detected & ~truth_mining).sum()) * pixel_ha
    return Score(
        scenario=scene.scenario, seed=scene.seed, method=method,
        precision=round(float(precision), 4), recall=round(float(recall), 4),
        f1=round(float(2 * precision * recall / (precision + recall)) if tp else 0.0, 4)
        if truth_mining.any() else float("nan"),
        iou=round(tp / union, 4) if union else 1.0,
        true_ha=round(float(truth_mining.sum()) * pixel_ha, 2),
        detected_ha=round(float(detected.sum()) * pixel_ha, 2),
        area_error=round(float((detected.sum() - truth_mining.sum()) / truth_mining.sum()), 4)
        if truth_mining.any() else float("nan"),
        object_recall=round(recalled / n_sites, 4) if n_sites else float("nan"),
        n_sites=n_sites,
        median_lag_periods=float(np.median(lags)) if lags else float("nan"),
        false_positive_ha_per_100km2=round(fp_ha / area_km2 * 100, 3) if area_km2 else 0.0,
        confounder_flagged_pct=flagged,
    )


def _baseline(manifest: dict) -> list[str]:
    start = manifest["parameters"]["start"]
    return [p["period"] for p in manifest["periods"] if p["end"] < start]


def _period_index(day: date, manifest: dict, assessed: list[str]) -> int | None:
    for p in manifest["periods"]:
        if p["start"] <= day.isoformat() <= p["end"]:
            return assessed.index(p["period"]) if p["period"] in assessed else None
    return None


def _aoi_geometry(manifest: dict, crs: str) -> gpd.GeoSeries:
    aoi = gpd.read_file(manifest["aoi"]["file"])
    return aoi.to_crs(crs).geometry


def _rasterize(geoms, shape: tuple[int, int], transform: Affine) -> np.ndarray:
    geoms = [g for g in geoms if g is not None and not g.is_empty]
    if not geoms:
        return np.zeros(shape, bool)
    return rasterio.features.rasterize(
        [(g, 1) for g in geoms], out_shape=shape, transform=transform, fill=0, dtype="uint8"
    ).astype(bool)


def _first_seen_index(run_dir: Path, assessed: list[str], shape: tuple[int, int],
                      transform: Affine, crs: str) -> np.ndarray:
    """Per scene pixel: index of the first assessed period with new/active digging, else −1."""
    first = np.full(shape, -1, "int16")
    for i, label in reversed(list(enumerate(assessed))):
        path = run_dir / "rasters" / f"state_{label}.tif"
        dst = np.zeros(shape, "uint8")
        with rasterio.open(path) as src:
            reproject(rasterio.band(src, 1), dst, dst_transform=transform, dst_crs=crs,
                      resampling=Resampling.nearest)
        first[np.isin(dst, (1, 2))] = i
    return first
