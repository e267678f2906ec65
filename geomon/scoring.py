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

Site confidence (:mod:`geomon.confidence`) is checked per detected site: :func:`label_sites`
gives each site the share of its area that is truth mining (same pixel definition as above) and
labels it real when that share is at least one half; :func:`brier_score`,
:func:`expected_calibration_error` and :func:`reliability_table` measure how well confidences
match those labels.
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

__all__ = [
    "REAL_SITE_SHARE",
    "ReliabilityBin",
    "Score",
    "brier_score",
    "expected_calibration_error",
    "label_sites",
    "polygon_truth_share",
    "reliability_table",
    "score_run",
]

MIN_SITE_HA = 0.5
#: A detected site is *real* when at least this share of its area is truth mining.
REAL_SITE_SHARE = 0.5


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
    manifest, assessed, inside, truth_mining = _truth(run_dir, scene)
    transform, shape = Affine(*scene.transform[:6]), (scene.size, scene.size)
    crs = f"EPSG:{scene.epsg}"
    pixel_ha = abs(transform.a * transform.e) / 1e4

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


def label_sites(run_dir: Path, scene_root: Path, *, real_share: float = REAL_SITE_SHARE
                ) -> gpd.GeoDataFrame:
    """The run's detected sites with ``truth_share`` (share of the site's pixels inside the AOI
    that are truth mining) and ``real`` (``truth_share >= real_share``), by site ``id``.

    Truth mining is what :func:`score_run` counts: new or active digging in any assessed period.
    """
    from geomon.sample import load_scene

    run_dir, scene = Path(run_dir), load_scene(scene_root)
    _, _, inside, truth_mining = _truth(run_dir, scene)
    transform = Affine(*scene.transform[:6])
    det = gpd.read_file(run_dir / "detections.geojson")
    if not len(det):
        return gpd.GeoDataFrame({"id": [], "truth_share": [], "real": []}, geometry=[],
                                crs="EPSG:4326")
    shares = polygon_truth_share(det.to_crs(f"EPSG:{scene.epsg}").geometry, truth_mining,
                                 transform, within=inside)
    det["truth_share"] = shares
    det["real"] = shares >= real_share
    return det


def polygon_truth_share(geoms, truth: np.ndarray, transform: Affine, *,
                        within: np.ndarray | None = None) -> np.ndarray:
    """Per polygon: share of its pixels (centres inside it, and inside ``within``) where ``truth``
    is true; 0 for a polygon that covers no pixel centre."""
    out = []
    for g in geoms:
        px = _rasterize([g], truth.shape, transform)
        if within is not None:
            px &= within
        n = int(px.sum())
        out.append(float((truth & px).sum()) / n if n else 0.0)
    return np.asarray(out, float)


def brier_score(p, y) -> float:
    """Mean squared difference between probabilities ``p`` and 0/1 outcomes ``y``."""
    p, y = np.asarray(p, float), np.asarray(y, float)
    return float(np.mean((p - y) ** 2)) if p.size else float("nan")


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of a reliability table: predictions in ``[lo, hi)`` (the last bin includes 1)."""

    lo: float
    hi: float
    count: int
    mean_predicted: float
    observed: float


def reliability_table(p, y, *, bins: int = 10) -> list[ReliabilityBin]:
    """Equal-width bins of predicted probability with their mean prediction and observed share.

    Empty bins are kept (``count`` 0, means NaN) so tables of different runs line up.
    """
    p, y = np.asarray(p, float), np.asarray(y, float)
    idx = np.clip((p * bins).astype(int), 0, bins - 1)
    out = []
    for b in range(bins):
        sel = idx == b
        n = int(sel.sum())
        out.append(ReliabilityBin(b / bins, (b + 1) / bins, n,
                                  float(p[sel].mean()) if n else float("nan"),
                                  float(y[sel].mean()) if n else float("nan")))
    return out


def expected_calibration_error(p, y, *, bins: int = 10) -> float:
    """ECE: over equal-width bins, the count-weighted mean of |mean predicted − observed share|."""
    p = np.asarray(p, float)
    if not p.size:
        return float("nan")
    return float(sum(b.count * abs(b.mean_predicted - b.observed)
                     for b in reliability_table(p, y, bins=bins) if b.count) / p.size)


def _truth(run_dir: Path, scene) -> tuple[dict, list[str], np.ndarray, np.ndarray]:
    """The run's manifest, assessed period labels, AOI mask and truth-mining mask (scene grid)."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assessed = [p["period"] for p in manifest["periods"]][len(_baseline(manifest)) :]
    transform, shape = Affine(*scene.transform[:6]), (scene.size, scene.size)
    inside = _rasterize(_aoi_geometry(manifest, f"EPSG:{scene.epsg}"), shape, transform)
    with rasterio.open(scene.truth_raster) as src:
        names = list(src.descriptions)
        truth = src.read([names.index(p) + 1 for p in assessed if p in names])
    return manifest, assessed, inside, np.isin(truth, (1, 2)).any(axis=0) & inside


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
