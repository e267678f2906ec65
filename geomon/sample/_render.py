"""Render one acquisition: surface reflectance of every band, sky, noise, SCL.

Surface reflectance is a linear mixture per pixel: savanna trees, gallery forest and grass by
tree cover, replaced in part by static covers (water, village, road, outcrop, fields) and by the
date's dynamic covers (crop stage, fire char, flood water, new road, mining spoil and pit water,
regrowth). Then cloud shadow, haze, cirrus and cloud are applied at 10 m, the 20 m bands are
averaged to 20 m, and per-date radiometric jitter and sensor noise are added.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geomon.sample._clouds import Sky, block_mean, make_sky, scene_classification
from geomon.sample._noise import rng_for
from geomon.sample._spectra import (
    CIRRUS,
    CLOUD,
    HAZE,
    IDX10,
    IDX20,
    NIR,
    NOISE_FLOOR,
    NOISE_REL,
    RED,
    SHADOW_KEEP,
    endmembers,
)
from geomon.sample._toa import toa_bands
from geomon.sample._world import Acquisition, World

__all__ = ["Rendered", "Surface", "render", "surface"]


@dataclass(frozen=True)
class Surface:
    """Cloud-free surface of one date on the 10 m grid (before noise)."""

    refl: np.ndarray  # (10, n, n) float32
    water: np.ndarray  # (n, n) fraction of open water
    spoil: np.ndarray  # (n, n) fraction of bright bare spoil at active mining sites
    char: np.ndarray  # (n, n) fire char intensity


@dataclass(frozen=True)
class Rendered:
    """What an acquisition writes: reflectance at native resolutions, SCL and its truth."""

    refl10: np.ndarray  # (4, n, n) float32 blue, green, red, nir
    refl20: np.ndarray  # (6, n/2, n/2) float32 rededge1-3, nir08, swir16, swir22
    scl: np.ndarray  # (n/2, n/2) uint8
    valid10: np.ndarray | None  # bool, None = all valid
    valid20: np.ndarray | None
    sky: Sky
    surface: Surface | None  # kept only when asked for (tests)
    cloud_cover: float  # percent of valid pixels under (thick, thin or cirrus) cloud
    nodata_pct: float
    toa: dict[str, np.ndarray] | None = None  # L1C file stem -> TOA reflectance, when asked for


def _blend(r: np.ndarray, idx: np.ndarray, w: np.ndarray, spec: np.ndarray) -> None:
    """``r[:, idx] = (1 - w) r[:, idx] + w spec`` for a (bands, pixels) array."""
    if idx.size == 0:
        return
    w = w.astype(np.float32, copy=False)
    r[:, idx] = r[:, idx] * (1.0 - w) + w * spec[:, None]


def surface(world: World, day: int) -> Surface:
    """The cloud-free surface reflectance of ``world`` on ``day``."""
    land = world.land
    n = world.n
    em = endmembers(world.greenness(day), world.wetness(day))
    tc, tcg, vig = land.tc.ravel(), land.tcg.ravel(), land.vig.ravel()
    refl = np.empty((10, n * n), np.float32)
    tmp = np.empty(n * n, np.float32)
    for b in range(10):
        rb = refl[b]
        np.multiply(tc, em.tree_sav[b] - em.grass[b], out=rb)
        rb += em.grass[b]
        np.multiply(tcg, em.tree_gal[b] - em.tree_sav[b], out=tmp)
        rb += tmp
        np.multiply(vig, em.vigour[b], out=tmp)
        rb += tmp

    water = np.zeros(n * n, np.float32)
    stage = np.float32(0.7 + 0.3 * world.wetness(day))  # river narrower in the dry season
    wfrac = np.clip((land.water.frac - (1.0 - stage)) / stage, 0.0, 1.0)
    _blend(refl, land.water.idx, wfrac, em.river)
    water[land.water.idx] = wfrac
    _blend(refl, land.village.idx, land.village.frac, em.village)
    _blend(refl, land.road.idx, land.road.frac, em.road)
    _blend(refl, land.rock.idx, land.rock.frac, em.rock)

    # Crop fields: one spectrum per field for this date.
    if land.n_fields:
        table = np.repeat(em.fallow[None, :], land.n_fields, axis=0)
        for ev in world.crops:
            w = ev.weights(day)
            if w is not None:
                table[ev.field] = w[0] * em.soil + w[1] * em.crop + w[2] * em.fallow
        fidx = np.flatnonzero(land.field_id.ravel() > 0)
        refl[:, fidx] = table[land.field_id.ravel()[fidx] - 1].T

    # Flood: water rises over the flood plain and recedes.
    level = max((f.level_at(day) for f in world.floods), default=0.0)
    if level > 0 and world.floodplain.idx.size:
        frac = np.clip((level - world.floodplain.h) / 0.08, 0.0, 1.0)
        on = frac > 0
        _blend(refl, world.floodplain.idx[on], frac[on], em.flood)
        water[world.floodplain.idx[on]] = np.maximum(water[world.floodplain.idx[on]], frac[on])

    char = np.zeros(n * n, np.float32)
    for fire in world.fires:
        i = fire.intensity(day)
        if i > 0.01:
            _blend(refl, fire.idx, np.full(fire.idx.size, 0.95 * i, np.float32), em.char)
            char[fire.idx] = i

    road = world.road
    built = road.idx_day <= day
    _blend(refl, road.idx[built], road.frac[built], em.road)

    spoil = np.zeros(n * n, np.float32)
    mine = world.mining
    if mine.idx.size:
        dug = mine.day <= day
        idx = mine.idx[dug]
        if idx.size:
            sites = mine.sites
            reveg = np.array([s.reveg(day) for s in sites], np.float32)
            since = np.array([np.inf if s.abandoned is None else day - s.abandoned for s in sites],
                             np.float32)
            site = mine.site[dug]
            r = reveg[site]
            c = mine.cover[dug]
            p = mine.pit[dug]
            clearing = np.clip((since[site] - 40.0) / 120.0, 0.0, 1.0)  # turbid pits settle
            clearing[~np.isfinite(since[site])] = 0.0
            w_pit = c * p * (1.0 - r)
            w_spoil = c * (1.0 - p) * (1.0 - r)
            w_grow = c * r
            pit_spec = em.turbid[:, None] * (1.0 - clearing) + em.algal[:, None] * clearing
            mixed = (refl[:, idx] * (1.0 - c) + em.spoil[:, None] * w_spoil
                     + pit_spec * w_pit + em.grass[:, None] * w_grow)
            refl[:, idx] = mixed
            water[idx] = np.maximum(water[idx], w_pit)
            active = ~np.isfinite(since[site]) | (since[site] <= 0)
            spoil[idx] = np.where(active, w_spoil, 0.0)

    refl *= land.tex.ravel()[None, :]
    return Surface(refl=refl.reshape(10, n, n), water=water.reshape(n, n),
                   spoil=spoil.reshape(n, n), char=char.reshape(n, n))


def _apply_sky(refl: np.ndarray, sky: Sky) -> None:
    """Shadow, haze, cirrus and cloud on a (10, n, n) reflectance array, in place."""
    for b in range(refl.shape[0]):
        rb = refl[b]
        if sky.shadow is not None:
            rb *= 1.0 - sky.shadow * np.float32(1.0 - SHADOW_KEEP[b])
        rb *= 1.0 - 0.25 * sky.haze * np.float32(HAZE[b] / HAZE[0])  # contrast loss
        rb += sky.haze * HAZE[b]
        if sky.cirrus is not None:
            rb *= 1.0 - 0.5 * sky.cirrus
            rb += sky.cirrus * CIRRUS[b]
        if sky.alpha is not None:
            rb *= 1.0 - sky.alpha
            rb += sky.alpha * CLOUD[b] * (0.75 + 0.25 * sky.alpha)


def render(world: World, acq: Acquisition, *, keep_surface: bool = False,
           toa: bool = False) -> Rendered:
    """Everything one acquisition writes (deterministic in the world and the acquisition).

    With ``toa`` also its Level-1C top-of-atmosphere bands (:mod:`geomon.sample._toa`), from a
    random stream of their own, so the L2A output is the same with or without them.
    """
    n = world.n
    rng = rng_for(world.seed, world.spec.name, "acquisition", acq.day)
    surf = surface(world, acq.day)
    sky = make_sky(rng, world.spec.climate, acq.date.timetuple().tm_yday, n, acq.sun_azimuth,
                   acq.sun_elevation)

    refl = surf.refl if not keep_surface else surf.refl.copy()
    nd20_red = block_mean(surf.refl[RED])
    nd20_nir = block_mean(surf.refl[NIR])
    ndvi20 = (nd20_nir - nd20_red) / np.maximum(nd20_nir + nd20_red, 1e-6)
    scl = scene_classification(
        rng, sky, ndvi20=ndvi20, nir20=nd20_nir, water20=block_mean(surf.water),
        spoil20=block_mean(surf.spoil), char20=block_mean(surf.char),
    )
    _apply_sky(refl, sky)

    # Per-date radiometric jitter (calibration, residual BRDF and atmospheric correction error).
    gain = (1.0 + rng.normal(0, 0.012) + rng.normal(0, 0.006, 10)).astype(np.float32)
    offset = rng.normal(0, 0.0015, 10).astype(np.float32)
    refl10 = refl[list(IDX10)]
    refl20 = block_mean(refl[list(IDX20)])
    for arr, bands in ((refl10, IDX10), (refl20, IDX20)):
        for j, b in enumerate(bands):
            a = arr[j]
            a *= gain[b]
            a += offset[b]
            sigma = NOISE_FLOOR[b] + NOISE_REL * np.abs(a)
            a += sigma * rng.standard_normal(a.shape, dtype=np.float32)

    valid20 = sky.valid20
    valid10 = None
    if valid20 is not None:
        valid10 = np.repeat(np.repeat(valid20, 2, axis=0), 2, axis=1)
    truth = sky.cloud_truth()
    if truth is None:
        cover = 0.0
    elif valid10 is None:
        cover = 100.0 * float(truth.mean())
    else:
        cover = 100.0 * float(truth[valid10].mean()) if valid10.any() else 0.0
    nodata = 0.0 if valid20 is None else 100.0 * (1.0 - float(valid20.mean()))
    l1c = None
    if toa:  # refl still holds the sky-applied surface: refl10/refl20 are copies
        l1c = toa_bands(refl, sky, rng_for(world.seed, world.spec.name, "l1c", acq.day))
    return Rendered(refl10=refl10, refl20=refl20, scl=scl, valid10=valid10, valid20=valid20,
                    sky=sky, surface=surf if keep_surface else None, cloud_cover=cover,
                    nodata_pct=nodata, toa=l1c)
