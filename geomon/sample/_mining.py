"""Mining sites: where they open, how they grow, when they are abandoned and revegetate.

Artisanal alluvial diggings open on a stream and spread along its valley (within about 150 m of
the channel) from a few nuclei; each nucleus is a cluster of pits a few metres to tens of metres
across with spoil heaps around them, and clusters merge into patches as digging goes on. Each
disturbed pixel gets the day it was first dug, so the truth for any date is exact. A semi-mechanised
block is a larger rectangle worked in strips along the valley with a settling pond at one end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geomon.sample._noise import smooth_field
from geomon.sample._scenarios import ScenarioSpec
from geomon.sample._terrain import PX_M, Landscape, dilate_into, rotated_rect

__all__ = ["Mining", "Site", "place_sites"]


@dataclass(frozen=True)
class Site:
    """One mining site's calendar (day numbers; see :mod:`geomon.sample._dates`)."""

    id: str
    kind: str  # "artisanal" | "semi_mechanised"
    start: int  # first digging
    grow_days: float  # time to reach the planned area
    abandoned: int | None  # last day of digging, None if still worked at the end
    reveg_days: float  # time for the spoil to be covered by regrowth after abandonment

    def reveg(self, day: int) -> float:
        """Fraction revegetated on ``day``: 0 while active, rising to 1 after abandonment."""
        if self.abandoned is None or day <= self.abandoned:
            return 0.0
        return float(min(1.0, ((day - self.abandoned) / self.reveg_days) ** 0.8))


@dataclass(frozen=True)
class Mining:
    """Mining rasters of a scene, stored sparsely over the pixels any site ever disturbs."""

    sites: tuple[Site, ...]
    idx: np.ndarray  # int32 flat indices of pixels dug at some time
    site: np.ndarray  # int16 site index per pixel of ``idx``
    day: np.ndarray  # float32 day each pixel is first dug
    cover: np.ndarray  # float32 fraction of the pixel that is dug (spoil + pits)
    pit: np.ndarray  # float32 fraction of the dug area that is water-filled pit

    @staticmethod
    def empty() -> Mining:
        z = np.zeros(0, np.float32)
        return Mining((), np.zeros(0, np.int32), np.zeros(0, np.int16), z, z, z)

    def day_raster(self, n: int) -> np.ndarray:
        out = np.full(n * n, np.inf, np.float32)
        out[self.idx] = self.day
        return out.reshape(n, n)

    def site_raster(self, n: int) -> np.ndarray:
        """int16 raster: site index + 1, 0 where never dug."""
        out = np.zeros(n * n, np.int16)
        out[self.idx] = self.site + 1
        return out.reshape(n, n)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(max(hi, lo * 1.0001)))))


def _timelines(rng: np.random.Generator, spec: ScenarioSpec, n_sites: int, first: int,
               last: int) -> list[tuple[str, int, float, int | None, float]]:
    """(category, start, grow_days, abandoned, reveg_days) for each artisanal site."""
    span = max(last - first, 1)
    n_old = round(spec.old_abandoned * n_sites)
    n_pre = max(0, round(spec.pre_existing * n_sites) - n_old)
    n_new = n_sites - n_old - n_pre
    out = []
    for _ in range(n_old):
        start = first - int(rng.uniform(500, 1000))
        aband = first - int(rng.uniform(20, 300))
        out.append(("old", start, rng.uniform(150, 400), aband, rng.uniform(330, 540)))
    for _ in range(n_pre):
        g = _log_uniform(rng, *spec.growth_days) * 2.0
        out.append(("pre", first - int(rng.uniform(30, 400)), g, None, rng.uniform(300, 450)))
    # New sites: stratified over the range so each part of it sees some open.
    tail = min(45, span // 3)
    slots = rng.permutation(n_new)
    for k in range(n_new):
        frac = (slots[k] + rng.uniform(0.15, 0.85)) / max(n_new, 1)
        start = first + int(frac * max(span - tail, 1))
        out.append(("new", start, _log_uniform(rng, *spec.growth_days), None,
                    rng.uniform(300, 450)))
    # Some active sites are given up during the scene.
    final = []
    for cat, start, grow, aband, reveg in out:
        if cat != "old" and rng.random() < spec.abandon:
            lo = max(start + 60, first + int(0.3 * span))
            hi = last - 15
            if hi > lo:
                aband = int(rng.uniform(lo, hi))
        final.append((cat, start, grow, aband, reveg))
    return final


def _grow(rng: np.random.Generator, land: Landscape, valley: np.ndarray, taken: np.ndarray,
          seed: tuple[int, int], target_px: int) -> np.ndarray:
    """Flat indices of a site's pixels in the order they are dug (from nuclei along the stream)."""
    n = land.n
    r0 = np.sqrt(target_px / np.pi)
    r = int(r0 * 2.5) + 12
    sy, sx = seed
    y0, y1, x0, x1 = max(0, sy - r), min(n, sy + r + 1), max(0, sx - r), min(n, sx + r + 1)
    ok = valley[y0:y1, x0:x1] & ~taken[y0:y1, x0:x1]
    st = np.argwhere(land.streams[y0:y1, x0:x1] > 0) + np.array([y0, x0])
    if st.size:
        near = st[np.hypot(st[:, 0] - sy, st[:, 1] - sx) < max(r0 * 1.5, 4)]
    else:
        near = np.array([[sy, sx]])
    k = int(rng.integers(2, 6))
    picks = [np.array([sy, sx]), *(near[i] for i in rng.integers(0, len(near), k - 1))]
    delays = [0.0, *(rng.uniform(0.2, 0.9, k - 1) * r0)]
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    cost = np.full(yy.shape, np.inf, np.float32)
    for (py, px), d in zip(picks, delays, strict=True):
        cost = np.minimum(cost, np.hypot(yy - py, xx - px) + d)
    cost *= 1.0 + 0.35 * np.abs(smooth_field(rng, yy.shape, 1.5))
    cost[~ok] = np.inf
    order = np.argsort(cost, axis=None, kind="stable")
    order = order[np.isfinite(cost.ravel()[order])][:target_px]
    oy, ox = np.unravel_index(order, yy.shape)
    return ((oy + y0) * n + (ox + x0)).astype(np.int64)


def _stream_angle(land: Landscape, y: int, x: int) -> float:
    win = np.argwhere(land.streams[max(0, y - 12): y + 13, max(0, x - 12): x + 13] > 0)
    if len(win) < 3:
        return 0.0
    c = np.cov(win.T.astype(float))
    w, v = np.linalg.eigh(c)
    vy, vx = v[:, int(np.argmax(w))]
    return float(np.arctan2(vy, vx))


def place_sites(rng: np.random.Generator, land: Landscape, spec: ScenarioSpec, avoid: np.ndarray,
                first: int, last: int) -> Mining:
    """Place and schedule the scenario's mining sites, avoiding ``avoid`` pixels."""
    n = land.n
    area_km2 = (n * PX_M / 1000.0) ** 2
    if spec.site_density <= 0:
        return Mining.empty()
    scale = float(np.clip(np.sqrt(area_km2 / 6.5536), 0.4, 3.0))
    hi_ha = min(spec.site_area_ha[1] * scale, 0.02 * area_km2 * 100)
    lo_ha = min(spec.site_area_ha[0] * min(1.0, scale), 0.5 * hi_ha)
    n_sites = max(2, round(spec.site_density * area_km2))

    valley_w = 150.0 * (1.0 + 0.25 * smooth_field(rng, (n, n), 8.0))
    valley = (land.dist_stream < valley_w) & ~avoid
    margin = 12
    inner = np.zeros((n, n), bool)
    inner[margin:n - margin, margin:n - margin] = True
    taken = np.zeros((n, n), bool)

    cover_f = np.clip(0.86 + 0.14 * smooth_field(rng, (n, n), 1.2), 0.6, 1.0).astype(np.float32)
    pit_z = smooth_field(rng, (n, n), 0.8)
    pit_f = (np.clip((pit_z - 0.9) / 0.9, 0.0, 1.0) * 0.95).astype(np.float32)

    sites: list[Site] = []
    parts: list[tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]] = []

    if spec.semi_mechanised and n >= 256:
        cand = np.argwhere((land.streams >= 2) & inner & valley)
        if cand.size:
            area_ha = rng.uniform(*spec.semi_area_ha) * scale
            area_px = area_ha * 100
            aspect = rng.uniform(2.0, 3.0)
            half_len, half_wid = np.sqrt(area_px * aspect) / 2, np.sqrt(area_px / aspect) / 2
            for _ in range(20):
                cy, cx = cand[rng.integers(len(cand))]
                if min(cy, cx, n - 1 - cy, n - 1 - cx) < half_len + 6:
                    continue
                ang = _stream_angle(land, cy, cx)
                rs, cs, m = rotated_rect((n, n), (cy, cx), half_len, half_wid, ang)
                m = m & ~avoid[rs, cs]
                if m.sum() < 0.8 * area_px:
                    continue
                yy, xx = np.mgrid[rs, cs].astype(np.float32)
                u = (xx - cx) * np.cos(ang) + (yy - cy) * np.sin(ang)
                u01 = (u + half_len) / (2 * half_len)
                if rng.random() < 0.5:
                    u01 = 1.0 - u01
                if spec.pre_existing >= 0.35:
                    start = first - int(rng.uniform(60, 200))
                else:
                    start = first + int(rng.uniform(0.1, 0.35) * max(last - first, 1))
                grow = rng.uniform(150, 400)
                idx2 = np.flatnonzero(m)
                oy, ox = np.unravel_index(idx2, m.shape)
                flat = ((oy + rs.start) * n + (ox + cs.start)).astype(np.int64)
                frac = u01[oy, ox]
                order = np.argsort(frac, kind="stable")
                flat, frac = flat[order], frac[order]
                day = start + grow * (frac + 0.03 * rng.standard_normal(frac.size))
                pit = np.where(frac > 0.88, 1.0, pit_f.ravel()[flat] * 0.5).astype(np.float32)
                cover = np.ones(flat.size, np.float32)
                sites.append(Site(id="site-00", kind="semi_mechanised", start=start,
                                  grow_days=grow, abandoned=None, reveg_days=400.0))
                parts.append((flat, 0, day.astype(np.float32), cover, pit))
                block = np.zeros((n, n), bool)
                block.ravel()[flat] = True
                dilate_into(taken, block, 4)
                break

    timelines = _timelines(rng, spec, n_sites, first, last)
    cand = np.argwhere((land.streams > 0) & inner & valley)
    for _cat, start, grow, aband, reveg in timelines:
        area_ha = _log_uniform(rng, lo_ha, hi_ha)
        target = max(8, round(area_ha * 100))
        for _ in range(30):
            if cand.size == 0:
                break
            sy, sx = cand[rng.integers(len(cand))]
            if taken[sy, sx]:
                continue
            flat = _grow(rng, land, valley, taken, (int(sy), int(sx)), target)
            if flat.size < max(8, target // 3):
                continue
            rank = np.arange(flat.size, dtype=np.float64) / flat.size
            day = start + grow * rank ** (1.0 / 0.7)
            k = len(sites)
            if aband is not None:
                keep = day <= aband
                keep[0] = True
                flat, day = flat[keep], day[keep]
            sites.append(Site(id=f"site-{k:02d}", kind="artisanal", start=int(start),
                              grow_days=float(grow), abandoned=aband, reveg_days=float(reveg)))
            parts.append((flat, k, day.astype(np.float32), cover_f.ravel()[flat],
                          pit_f.ravel()[flat]))
            block = np.zeros((n, n), bool)
            block.ravel()[flat] = True
            dilate_into(taken, block, 3)
            break

    if not parts:
        return Mining.empty()
    idx = np.concatenate([p[0] for p in parts]).astype(np.int32)
    site = np.concatenate([np.full(p[0].size, p[1], np.int16) for p in parts])
    day = np.concatenate([p[2] for p in parts])
    cover = np.concatenate([p[3] for p in parts]).astype(np.float32)
    pit = np.concatenate([p[4] for p in parts]).astype(np.float32)
    order = np.argsort(idx, kind="stable")
    return Mining(tuple(sites), idx[order], site[order], day[order], cover[order], pit[order])
