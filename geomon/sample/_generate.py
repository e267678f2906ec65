"""Generate a scene folder: validate input, build the world, write imagery, STAC and truth."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from shapely.geometry import Polygon

from geomon.errors import GeomonError
from geomon.sample._dates import quarters
from geomon.sample._dem import write_dem
from geomon.sample._grid import make_grid
from geomon.sample._scenarios import SCENARIO_SPECS
from geomon.sample._scene import (
    SCENE_FILE,
    SCENE_FORMAT,
    Scene,
    load_scene,
    read_scene_json,
    scene_to_json,
)
from geomon.sample._stac import (
    build_items,
    build_l1c_items,
    write_catalog,
    write_item_collection,
)
from geomon.sample._truth import confounder_features, site_features, write_geojson, write_rasters
from geomon.sample._world import build_world
from geomon.sample._write import default_workers, write_acquisitions

__all__ = ["SCENARIOS", "generate_scene", "scene_footprint"]

#: Names of the built-in scenarios.
SCENARIOS: tuple[str, ...] = tuple(SCENARIO_SPECS)

MIN_SIZE = 64
MAX_SIZE = 4096


def _check_scenario(scenario: object) -> str:
    if not isinstance(scenario, str) or scenario not in SCENARIO_SPECS:
        raise GeomonError(f"unknown scenario {scenario!r}", field="scenario",
                          expected="one of: " + ", ".join(SCENARIOS))
    return scenario


def _check_size(size: object) -> int:
    ok = isinstance(size, int) and not isinstance(size, bool)
    if not ok or size < MIN_SIZE or size > MAX_SIZE or size % 2:  # type: ignore[operator]
        raise GeomonError(f"bad size {size!r}", field="size",
                          expected=f"an even number of pixels from {MIN_SIZE} to {MAX_SIZE}")
    return int(size)  # type: ignore[arg-type]


def _check_date(value: object, name: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise GeomonError(f"bad {name} date {value!r}", field=name,
                      expected="an ISO date such as 2024-01-01")


def _check_prefix(prefix: str | None) -> str | None:
    if prefix is None:
        return None
    if not isinstance(prefix, str) or "://" not in prefix:
        raise GeomonError(f"bad href_prefix {prefix!r}", field="href_prefix",
                          expected="an absolute URL such as http://127.0.0.1:8123/")
    return prefix if prefix.endswith("/") else prefix + "/"


def scene_footprint(scenario: str, size: int) -> Polygon:
    """Lon/lat outline of the 10 m grid a scene of ``scenario`` and ``size`` covers.

    It is the same grid :func:`generate_scene` writes, whatever the seed and dates.
    """
    spec = SCENARIO_SPECS[_check_scenario(scenario)]
    return make_grid(spec.lon, spec.lat, _check_size(size)).footprint_lonlat()


def _identity(scenario: str, seed: int, size: int, start: date, end: date, l1c: bool = False
              ) -> dict[str, object]:
    ident: dict[str, object] = {"format": SCENE_FORMAT, "scenario": scenario, "seed": seed,
                                "size": size, "start": start.isoformat(), "end": end.isoformat()}
    if l1c:  # only when asked for: scenes written before the option keep their identity
        ident["l1c"] = True
    return ident


def _existing(root: Path, ident: dict[str, object]) -> bool:
    """True if ``root`` already holds this very scene; raise if it holds something else."""
    if not root.exists():
        return False
    if not root.is_dir():
        raise GeomonError("output path exists and is not a folder", path=root)
    if not (root / SCENE_FILE).exists():
        if any(root.iterdir()):
            raise GeomonError("output folder is not empty and holds no generated scene",
                              path=root, expected="a new or empty folder")
        return False
    doc = read_scene_json(root)
    got = {k: doc.get(k) for k in ident}
    if got != ident:
        diff = ", ".join(f"{k}={got[k]!r}" for k in ident if got[k] != ident[k])
        raise GeomonError(f"output folder already holds a different scene ({diff})", path=root,
                          expected="a new or empty folder, or the same scenario, seed, size "
                                   "and dates")
    return True


def generate_scene(
    out: str | Path,
    *,
    scenario: str = "seguela",
    seed: int = 0,
    size: int = 256,
    start: date | str = "2024-01-01",
    end: date | str = "2024-12-31",
    href_prefix: str | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    l1c: bool = False,
) -> Scene:
    """Write a simulated Sentinel-2 L2A time series with known truth, in the Earth Search layout.

    Parameters
    ----------
    out
        Scene folder; created if missing. If it already holds the same scene (same scenario,
        seed, size and dates) nothing is regenerated; with a different ``href_prefix`` only
        ``item_collection.json`` is rewritten.
    scenario
        One of :data:`SCENARIOS`.
    seed
        Random seed; the output is byte-identical for the same arguments.
    size
        Pixels per side at 10 m (even, 64-4096); the 20 m assets have ``size / 2``.
    start, end
        First and last day; one acquisition every 5 days from ``start``.
    href_prefix
        URL prefix for the absolute asset hrefs of ``item_collection.json``
        (``href_prefix + "items/<id>/B04.tif"``); default ``file://`` URLs of the files.
    workers
        Processes rendering acquisitions in parallel (default ``min(2, cpu count)``).
        The output does not depend on it.
    progress
        Called as ``progress(done, total)`` after each acquisition is written.
    l1c
        Also write each acquisition's Level-1C twin (collection ``sentinel-2-l1c``, item id
        ``..._L1C``): top-of-atmosphere reflectance of the ten bands s2cloudless reads (B01 B02
        B04 B05 B08 B8A B09 B10 B11 B12, Earth Search asset names), from the same surface and
        sky through a simple atmosphere (:mod:`geomon.sample._toa`). The L2A items are the same
        with or without it.

    Returns
    -------
    Scene
        Paths and grid of the scene.

    Raises
    ------
    GeomonError
        Unknown scenario, bad size or dates, ``end`` before ``start``, or an output folder that
        holds something else.
    """
    scenario = _check_scenario(scenario)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise GeomonError(f"bad seed {seed!r}", field="seed", expected="an integer")
    size = _check_size(size)
    d0, d1 = _check_date(start, "start"), _check_date(end, "end")
    if d1 < d0:
        raise GeomonError(f"end {d1} is before start {d0}", field="end",
                          expected=f"a date on or after {d0}")
    prefix = _check_prefix(href_prefix)
    if workers is None:
        workers = default_workers()
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise GeomonError(f"bad workers {workers!r}", field="workers",
                          expected="a positive integer")

    root = Path(out).expanduser().resolve()
    ident = _identity(scenario, seed, size, d0, d1, bool(l1c))
    if _existing(root, ident):
        scene = load_scene(root)
        if scene.href_prefix == prefix:
            return scene
        ids = [f["id"] for f in json.loads(scene.item_collection.read_text("utf-8"))["features"]]
        write_item_collection(root, ids, root, prefix, scene.item_collection)
        doc = read_scene_json(root)
        doc["href_prefix"] = prefix
        _write_json(root / SCENE_FILE, doc)
        return load_scene(root)

    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        scene = _generate(tmp, root, scenario, seed, size, d0, d1, prefix, workers, progress,
                          bool(l1c))
        if root.exists():
            root.rmdir()  # empty (checked above)
        tmp.rename(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return scene


def _write_json(path: Path, doc: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


def _generate(tmp: Path, root: Path, scenario: str, seed: int, size: int, d0: date, d1: date,
              prefix: str | None, workers: int,
              progress: Callable[[int, int], None] | None, l1c: bool = False) -> Scene:
    world = build_world(scenario, seed, size, d0, d1)
    metas = write_acquisitions(world, tmp, workers=workers, progress=progress, l1c=l1c)
    items = build_items(world, metas, tmp)
    twins = build_l1c_items(world, metas, items, tmp) if l1c else []
    write_catalog(world, items, tmp, twins)
    write_item_collection(tmp, [m.item_id for m in metas] + [t.id for t in twins], root, prefix,
                          tmp / "item_collection.json")

    periods = quarters(d0, d1)
    sites = site_features(world)
    confs = confounder_features(world)
    members = {"scenario": scenario, "seed": seed}
    write_geojson(tmp / "truth.geojson", sites, **members)
    write_geojson(tmp / "confounders.geojson", confs, **members)
    write_rasters(world, periods, tmp)
    write_dem(world, tmp)

    g = world.grid
    bbox = tuple(float(v) for v in g.footprint_lonlat().bounds)
    scene = Scene(
        root=root, scenario=scenario, seed=seed, size=size, epsg=g.epsg,
        transform=tuple(float(v) for v in g.transform), bbox_lonlat=bbox,  # type: ignore[arg-type]
        catalog=root / "catalog.json", item_collection=root / "item_collection.json",
        truth=root / "truth.geojson", confounders=root / "confounders.geojson",
        truth_raster=root / "truth_periods.tif", n_items=len(metas), start=d0, end=d1,
        periods=periods, confounders_raster=root / "confounders.tif", href_prefix=prefix,
    )
    kinds: dict[str, int] = {}
    for f in confs:
        kinds[f["properties"]["kind"]] = kinds.get(f["properties"]["kind"], 0) + 1
    extra = {
        "generator": "geomon.sample",
        "mgrs_tile": "".join(str(v) for v in world.mgrs),
        "items": [m.item_id for m in metas],
        **({"l1c": True, "l1c_items": [t.id for t in twins]} if l1c else {}),
        "summary": {
            "sites": len(sites),
            "sites_at_least_0_5_ha": sum(f["properties"]["area_ha"] >= 0.5 for f in sites),
            "mined_ha_at_end": round(sum(f["properties"]["area_ha"] for f in sites), 2),
            "confounders": kinds,
        },
    }
    _write_json(tmp / SCENE_FILE, scene_to_json(scene, **extra))
    return scene
