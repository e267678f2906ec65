"""Write acquisitions as Cloud-Optimised GeoTIFFs in the Earth Search layout, in parallel.

One folder per item, ``items/<item_id>/``, holding ``B02.tif`` ... ``B12.tif`` (uint16 DN,
``DN = round((reflectance + 0.1) * 10000)``, nodata 0) and ``SCL.tif`` (uint8, nodata 0), the file
names Earth Search uses. Each worker process renders and writes whole acquisitions, so memory
stays bounded by one acquisition per worker whatever the length of the time series.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import rasterio
import shapely
from rasterio.crs import CRS
from rasterio.features import shapes
from rasterio.transform import Affine

from geomon.sample._clouds import (
    BARE,
    CIRRUS,
    CLOUD_HIGH,
    CLOUD_MED,
    DARK,
    NODATA,
    SATURATED,
    SHADOW,
    SNOW,
    UNCLASSIFIED,
    VEG,
    WATER,
)
from geomon.sample._render import render
from geomon.sample._spectra import BAND_INFO, IDX10, IDX20
from geomon.sample._toa import L1C_BANDS
from geomon.sample._world import Acquisition, World

__all__ = ["ItemMeta", "write_acquisitions", "write_cog"]

#: BOA offset of processing baseline >= 04.00, and the DN scale.
BOA_OFFSET = -0.1
DN_SCALE = 10000.0
COG_BLOCK = 256

_SCL_PCT = {
    "s2:saturated_defective_pixel_percentage": (SATURATED,),
    "s2:dark_features_percentage": (DARK,),
    "s2:cloud_shadow_percentage": (SHADOW,),
    "s2:vegetation_percentage": (VEG,),
    "s2:not_vegetated_percentage": (BARE,),
    "s2:water_percentage": (WATER,),
    "s2:unclassified_percentage": (UNCLASSIFIED,),
    "s2:medium_proba_clouds_percentage": (CLOUD_MED,),
    "s2:high_proba_clouds_percentage": (CLOUD_HIGH,),
    "s2:thin_cirrus_percentage": (CIRRUS,),
    "s2:snow_ice_percentage": (SNOW,),
}


@dataclass(frozen=True)
class ItemMeta:
    """What the STAC writer needs to know about one written acquisition."""

    index: int
    item_id: str
    folder: str  # relative to the scene root, e.g. "items/S2A_29PQJ_20240101_0_L2A"
    files: dict[str, str]  # asset key -> file name in the folder
    sizes: dict[str, int]  # asset key -> bytes
    cloud_cover: float
    nodata_pct: float
    scl_pct: dict[str, float]
    valid_utm: dict[str, Any] | None  # GeoJSON of the valid-data outline (UTM), None = all
    l1c_folder: str | None = None  # the L1C twin's folder, when written
    l1c_files: dict[str, str] = dataclasses.field(default_factory=dict)
    l1c_sizes: dict[str, int] = dataclasses.field(default_factory=dict)


def write_cog(path: Path, data: np.ndarray, *, transform: tuple[float, ...], epsg: int,
              nodata: int, resampling: str) -> None:
    """Write a single-band COG (tiled 256, DEFLATE, internal overviews when larger than a tile)."""
    h, w = data.shape
    profile = {
        "driver": "COG",
        "width": w,
        "height": h,
        "count": 1,
        "dtype": data.dtype.name,
        "crs": CRS.from_epsg(epsg),
        "transform": Affine(*transform),
        "nodata": nodata,
        "BLOCKSIZE": COG_BLOCK,
        "COMPRESS": "DEFLATE",
        "PREDICTOR": 2,
        "LEVEL": 6,
        "OVERVIEW_RESAMPLING": resampling,
        "NUM_THREADS": 1,
        "BIGTIFF": "NO",
    }
    with rasterio.Env(GDAL_NUM_THREADS=1), rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def _to_dn(refl: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    dn = np.rint((refl - np.float32(BOA_OFFSET)) * np.float32(DN_SCALE))
    np.clip(dn, 1, 65535, out=dn)
    out = dn.astype(np.uint16)
    if valid is not None:
        out[~valid] = 0
    return out


def _valid_outline(valid20: np.ndarray, transform20: tuple[float, ...]) -> dict[str, Any] | None:
    found = shapes(valid20.astype(np.uint8), transform=Affine(*transform20))
    polys = [shapely.geometry.shape(g) for g, v in found if v == 1]
    if not polys:
        return None
    geom = shapely.union_all(polys).simplify(20.0)
    return shapely.geometry.mapping(geom)


def l1c_id(item_id: str) -> str:
    """Id of the L1C twin of an L2A item id (``..._0_L2A`` → ``..._0_L1C``), as Earth Search."""
    return item_id.removesuffix("_L2A") + "_L1C"


def _valid_at(valid10: np.ndarray | None, f: int) -> np.ndarray | None:
    if valid10 is None or f == 1:
        return valid10
    n = valid10.shape[0]
    m = -(-n // f)
    padded = np.pad(valid10, ((0, m * f - n), (0, m * f - n)), mode="edge")
    return padded.reshape(m, f, m, f).all(axis=(1, 3))


def _write_l1c(world: World, acq: Acquisition, toa: dict[str, np.ndarray],
               valid10: np.ndarray | None, root: Path) -> tuple[str, dict[str, str],
                                                               dict[str, int]]:
    """Write the L1C twin's ten TOA bands (uint16 DN with the -0.1 offset, nodata 0)."""
    folder = Path("items") / l1c_id(acq.item_id)
    out = root / folder
    out.mkdir(parents=True, exist_ok=True)
    g = world.grid
    files, sizes = {}, {}
    for band in L1C_BANDS:
        f = band.res // 10
        tr = (float(band.res), 0.0, g.x0, 0.0, -float(band.res), g.y0)
        name = f"{band.file}.tif"
        write_cog(out / name, _to_dn(toa[band.file], _valid_at(valid10, f)), transform=tr,
                  epsg=g.epsg, nodata=0, resampling="AVERAGE")
        files[band.key] = name
        sizes[band.key] = (out / name).stat().st_size
    return folder.as_posix(), files, sizes


def write_one(world: World, acq: Acquisition, root: Path, *, l1c: bool = False) -> ItemMeta:
    """Render one acquisition and write its COGs under ``root/items/<item_id>/``.

    With ``l1c`` also its Level-1C twin under ``root/items/<l1c item id>/``.
    """
    r = render(world, acq, toa=l1c)
    folder = Path("items") / acq.item_id
    out = root / folder
    out.mkdir(parents=True, exist_ok=True)
    files, sizes = {}, {}
    g = world.grid
    for arr, idxs, valid, tr in ((r.refl10, IDX10, r.valid10, g.transform),
                                 (r.refl20, IDX20, r.valid20, g.transform20)):
        for j, b in enumerate(idxs):
            band = BAND_INFO[b]
            name = f"{band.file}.tif"
            write_cog(out / name, _to_dn(arr[j], valid), transform=tr, epsg=g.epsg, nodata=0,
                      resampling="AVERAGE")
            files[band.key] = name
    write_cog(out / "SCL.tif", r.scl, transform=g.transform20, epsg=g.epsg, nodata=0,
              resampling="NEAREST")
    files["scl"] = "SCL.tif"
    for key, name in files.items():
        sizes[key] = (out / name).stat().st_size

    counts = np.bincount(r.scl.ravel(), minlength=12).astype(float)
    valid_n = max(counts.sum() - counts[NODATA], 1.0)
    scl_pct = {k: round(100.0 * sum(counts[c] for c in codes) / valid_n, 6)
               for k, codes in _SCL_PCT.items()}
    outline = None if r.valid20 is None else _valid_outline(r.valid20, g.transform20)
    twin: tuple[str | None, dict[str, str], dict[str, int]] = (None, {}, {})
    if r.toa is not None:
        twin = _write_l1c(world, acq, r.toa, r.valid10, root)
    return ItemMeta(index=acq.index, item_id=acq.item_id, folder=folder.as_posix(), files=files,
                    sizes=sizes, cloud_cover=round(r.cloud_cover, 6),
                    nodata_pct=round(r.nodata_pct, 6), scl_pct=scl_pct, valid_utm=outline,
                    l1c_folder=twin[0], l1c_files=twin[1], l1c_sizes=twin[2])


#: Worker output lines carrying results start with this, so stray prints cannot confuse us.
_MARK = "geomon-sample-item "


def _meta_to_json(meta: ItemMeta) -> str:
    return _MARK + json.dumps(dataclasses.asdict(meta))


def _meta_from_json(line: str) -> ItemMeta | None:
    if not line.startswith(_MARK):
        return None
    return ItemMeta(**json.loads(line[len(_MARK):]))


def _run_worker(world_file: str, root: str, part: int, parts: int, l1c: bool = False) -> None:
    """Worker process body: write acquisitions ``part, part + parts, ...``; one JSON line each."""
    with open(world_file, "rb") as fh:
        world: World = pickle.load(fh)
    for acq in world.acquisitions[part::parts]:
        sys.stdout.write(_meta_to_json(write_one(world, acq, Path(root), l1c=l1c)) + "\n")
        sys.stdout.flush()


def _parallel(world: World, root: Path, workers: int, l1c: bool = False
              ) -> Iterator[ItemMeta]:
    """Render in ``workers`` fresh Python processes (``python -m geomon.sample._worker``).

    Plain subprocesses rather than multiprocessing: no fork of a threaded process, and no
    re-import of the caller's ``__main__`` (which breaks scripts without a main guard).
    """
    world_file = root / ".world.pickle"
    with open(world_file, "wb") as fh:
        pickle.dump(world, fh, protocol=pickle.HIGHEST_PROTOCOL)
    lines: queue.Queue[str | None] = queue.Queue()
    errors: list[list[str]] = [[] for _ in range(workers)]
    procs: list[subprocess.Popen[str]] = []
    drains: list[threading.Thread] = []
    readers: list[threading.Thread] = []
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")

    def pump(stream: IO[str]) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    def drain(k: int, stream: IO[str]) -> None:  # stderr, read as it comes so it never blocks
        for line in stream:
            errors[k].append(line)
            del errors[k][:-30]

    try:
        for k in range(workers):
            cmd = [sys.executable, "-m", "geomon.sample._worker", str(world_file), str(root),
                   str(k), str(workers), "l1c" if l1c else ""]
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=env)
            procs.append(p)
            readers.append(threading.Thread(target=pump, args=(p.stdout,), daemon=True))
            readers[-1].start()
            drains.append(threading.Thread(target=drain, args=(k, p.stderr), daemon=True))
            drains[-1].start()
        open_streams = workers
        while open_streams:
            line = lines.get()
            if line is None:
                open_streams -= 1
            elif (meta := _meta_from_json(line)) is not None:
                yield meta
        for k, p in enumerate(procs):
            if p.wait() != 0:
                drains[k].join(timeout=5)
                tail = "".join(errors[k][-15:])
                raise RuntimeError(f"scene worker failed (exit {p.returncode}):\n{tail}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for t in readers + drains:
            t.join(timeout=5)
        for p in procs:
            for stream in (p.stdout, p.stderr):
                if stream is not None:
                    stream.close()
        world_file.unlink(missing_ok=True)


def write_acquisitions(world: World, root: Path, *, workers: int,
                       progress: Callable[[int, int], None] | None = None,
                       l1c: bool = False) -> list[ItemMeta]:
    """Render and write every acquisition of ``world`` under ``root`` with ``workers`` processes.

    Output is byte-identical whatever the number of workers: each acquisition draws from its own
    random stream. With ``l1c`` each acquisition's Level-1C twin is written too. Returns the
    items' metadata in acquisition order.
    """
    total = len(world.acquisitions)
    workers = max(1, min(workers, total))
    if workers == 1:
        stream: Iterator[ItemMeta] = (write_one(world, a, root, l1c=l1c)
                                      for a in world.acquisitions)
    else:
        stream = _parallel(world, root, workers, l1c)
    results: list[ItemMeta] = []
    for meta in stream:
        results.append(meta)
        if progress is not None:
            progress(len(results), total)
    return sorted(results, key=lambda m: m.index)


def default_workers() -> int:
    """``min(2, cpu count)``: the machines this runs on are small and shared."""
    return max(1, min(2, os.cpu_count() or 1))
