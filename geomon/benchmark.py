"""Accuracy benchmark: the real pipeline on generated scenes, scored against their truth.

Each (scenario, seed) scene is generated once into a cache folder, given an AOI (its footprint,
inset) and a pipeline file, and run through :func:`geomon.pipeline.run_pipeline`, the same path
as ``geomon run``, once per detection method. Runs are scored with :func:`geomon.scoring.score_run`.

Seeds: detector thresholds were tuned on seeds 1–10 (:data:`TUNING_SEEDS`); the default scored
seeds (:data:`SCORING_SEEDS`) are disjoint from them.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import yaml
from shapely.geometry import mapping

from geomon.runs import write_json
from geomon.scoring import Score, score_run

log = logging.getLogger(__name__)

__all__ = [
    "SCORING_SEEDS",
    "TUNING_SEEDS",
    "format_table",
    "run_accuracy",
    "write_scene_pipeline",
]

TUNING_SEEDS = tuple(range(1, 11))
SCORING_SEEDS = (101, 102)


def run_accuracy(
    out: Path,
    *,
    scenarios: Sequence[str] = ("seguela", "marange", "tortiya", "quiet"),
    seeds: Sequence[int] = SCORING_SEEDS,
    methods: Sequence[str] = ("rules", "naive"),
    size: int = 256,
    start: str = "2023-01-01",
    end: str = "2024-12-31",
    baseline_periods: int = 1,
) -> list[Score]:
    """Generate (or reuse), run and score every scenario × seed × method; write ``results.json``.

    Every method is run with the same ``baseline_periods`` (quarters from ``start``), so all
    are scored on the same assessed quarters.
    """
    from geomon.pipeline import run_pipeline
    from geomon.sample import generate_scene, load_scene

    out = Path(out).resolve()
    scores = []
    for scenario in scenarios:
        for seed in seeds:
            root = out / "scenes" / f"{scenario}-{seed}-{size}-{start}-{end}"
            if (root / "scene.json").exists():
                scene = load_scene(root)
            else:
                log.info("generating %s seed %d (%d px)", scenario, seed, size)
                scene = generate_scene(root, scenario=scenario, seed=seed, size=size,
                                       start=start, end=end)
            work = out / "work" / f"{scenario}-{seed}"
            for method in methods:
                pipe = write_scene_pipeline(work, scene, name=f"{scenario}-{seed}-{method}",
                                            start=start, end=end, detection={"method": method},
                                            baseline_periods=baseline_periods)
                result = run_pipeline(pipe)
                score = score_run(result.run_dir, root, method=method)
                log.info("%s seed %d %s: F1 %.3f", scenario, seed, method, score.f1)
                scores.append(score)
    write_json(out / "results.json", [s.to_dict() for s in scores])
    return scores


def write_scene_pipeline(
    work: Path,
    scene,
    *,
    name: str,
    start: str,
    end: str,
    detection: dict | None = None,
    compute: dict | None = None,
    baseline_periods: int = 1,
) -> Path:
    """An AOI over ``scene`` (its footprint, inset 30 m) and a quarterly pipeline file in ``work``.

    The first ``baseline_periods`` quarters from ``start`` are the baseline; assessed quarters
    run to ``end``. Runs are written under ``work/runs``. Used by the accuracy and the speed
    benchmarks alike.
    """
    from datetime import date, timedelta

    from geomon.config import make_periods
    from geomon.sample import scene_footprint

    aoi_id = f"bench-{scene.scenario}-{scene.seed}-{scene.size}"
    props = {"id": aoi_id, "name": f"benchmark {aoi_id}", "country": "CIV",
             "deposit_type": "alluvial", "catchment": "simulated",
             "notes": "footprint of a generated benchmark scene", "parameters": {}}
    footprint = scene_footprint(scene.scenario, scene.size).buffer(-0.0003)
    (work / "aoi").mkdir(parents=True, exist_ok=True)
    (work / "aoi" / f"{aoi_id}.geojson").write_text(json.dumps(
        {"type": "Feature", "properties": props, "geometry": mapping(footprint)}))
    first = date.fromisoformat(start)
    assessed_start = make_periods(first, first, "quarter")[0].start
    for _ in range(baseline_periods):
        assessed_start = make_periods(assessed_start, assessed_start, "quarter")[0].end \
            + timedelta(days=1)
    doc = {
        "name": name, "aoi": aoi_id, "aoi_dir": "aoi",
        "start": assessed_start.isoformat(), "end": end, "period": "quarter",
        "baseline_periods": baseline_periods,
        "source": {"kind": "stac", "catalog": str(scene.catalog), "collection": "sentinel-2-l2a",
                   "max_cloud_cover": 100},
        "detection": detection or {},
        "estimate": {"enabled": False},
        "compute": compute or {},
        "outputs": "runs",
    }
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


_COLUMNS = [
    ("scenario", "{}"), ("seed", "{}"), ("method", "{}"), ("precision", "{:.3f}"),
    ("recall", "{:.3f}"), ("f1", "{:.3f}"), ("iou", "{:.3f}"), ("object_recall", "{:.2f}"),
    ("area_error", "{:+.1%}"), ("median_lag_periods", "{:.1f}"),
    ("false_positive_ha_per_100km2", "{:.1f}"),
]


def format_table(scores: Sequence[Score]) -> str:
    """A plain-text table, one row per run, look-alike shares in the last column."""
    head = [c for c, _ in _COLUMNS] + ["flagged % of look-alike area"]
    rows = []
    for s in scores:
        d = s.to_dict()
        cells = [("n/a" if isinstance(d[c], float) and math.isnan(d[c]) else f.format(d[c]))
                 for c, f in _COLUMNS]
        cells.append(", ".join(f"{k} {v:.1f}" for k, v in s.confounder_flagged_pct.items()))
        rows.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)
