"""The static landscape: drainage network, gallery forest, savanna, villages, roads, fields, water.

Streams are sine-generated meandering curves (the classic model of river meanders): a main river
crossing the scene, tributaries joining it every kilometre or so and smaller streams joining those.
Everything is laid out in pixel units of 10 m, so a larger scene holds more streams, villages and
fields rather than larger ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from geomon.sample._noise import blob, fractal_field, smooth_field

__all__ = [
    "Landscape",
    "Overlay",
    "bbox_window",
    "build_landscape",
    "dilate_into",
    "rasterize_polyline",
    "rotated_rect",
]

PX_M = 10.0

# Static land-cover codes of ``Landscape.lc`` (0 is the savanna / gallery-forest continuum).
LC_SAVANNA, LC_WATER, LC_VILLAGE, LC_ROAD, LC_FIELD, LC_ROCK = 0, 1, 2, 3, 4, 5


@dataclass(frozen=True)
class Overlay:
    """A sparse cover: flat pixel indices and the fraction of each pixel it covers."""

    idx: np.ndarray  # int32 flat indices into the (n, n) grid
    frac: np.ndarray  # float32 in (0, 1]

    @staticmethod
    def from_dense(frac: np.ndarray, threshold: float = 0.02) -> Overlay:
        flat = frac.ravel()
        idx = np.flatnonzero(flat > threshold).astype(np.int32)
        return Overlay(idx=idx, frac=flat[idx].astype(np.float32))

    @staticmethod
    def empty() -> Overlay:
        return Overlay(idx=np.zeros(0, np.int32), frac=np.zeros(0, np.float32))


@dataclass(frozen=True)
class Polyline:
    """A stream or road centre line in pixel coordinates (rows ``y``, columns ``x``)."""

    y: np.ndarray
    x: np.ndarray
    order: int = 1


@dataclass(frozen=True)
class Landscape:
    """Static rasters of a scene (all ``(n, n)`` on the 10 m grid unless noted)."""

    n: int
    tc: np.ndarray  # tree cover fraction
    tcg: np.ndarray  # tree cover that is gallery (evergreen riparian) forest
    tex: np.ndarray  # multiplicative brightness texture, about 1
    vig: np.ndarray  # vegetation vigour anomaly, about 0
    lc: np.ndarray  # uint8 static land-cover code
    streams: np.ndarray  # uint8 stream order on centre-line pixels, 0 elsewhere
    dist_stream: np.ndarray  # metres to the nearest stream centre line
    dist_main: np.ndarray  # metres to the main river
    main_arc: np.ndarray  # arc length (px) along the main river of the nearest main-river pixel
    water: Overlay  # river channel and ponds
    village: Overlay
    road: Overlay
    rock: Overlay
    field_id: np.ndarray  # int16, 0 = no field, k = field k-1
    n_fields: int
    occupied: np.ndarray  # bool: pixels later features must avoid
    main_river: Polyline
    villages: list[tuple[float, float]] = field(default_factory=list)


def sine_curve(
    rng: np.random.Generator,
    start: tuple[float, float],
    heading: float,
    length_px: float,
    *,
    wavelength_px: float,
    omega: float,
    drift: float = 0.15,
    order: int = 1,
) -> Polyline:
    """A meandering centre line: heading ``theta(s) = heading + omega sin(2 pi s / wavelength)``.

    A slow random drift of the heading keeps successive meanders from being identical.
    """
    step = 0.5
    s = np.arange(0.0, length_px, step)
    phase = rng.uniform(0, 2 * np.pi)
    wl = wavelength_px * np.exp(np.cumsum(rng.normal(0, 0.02, s.size)))  # wandering wavelength
    theta = heading + omega * np.sin(2 * np.pi * np.cumsum(step / wl) + phase)
    if drift > 0 and s.size > 8:
        walk = np.cumsum(rng.normal(0, drift * np.sqrt(step / 100.0), s.size))
        theta = theta + ndimage.gaussian_filter1d(walk, 40.0 / step)
    y = start[0] + np.cumsum(np.sin(theta) * step)
    x = start[1] + np.cumsum(np.cos(theta) * step)
    return Polyline(y=y, x=x, order=order)


def bbox_window(mask: np.ndarray, pad: int) -> tuple[slice, slice] | None:
    """The bounding box of ``mask``'s True pixels grown by ``pad``, as slices (None if empty)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (slice(max(0, rows[0] - pad), min(h, rows[-1] + pad + 1)),
            slice(max(0, cols[0] - pad), min(w, cols[-1] + pad + 1)))


def dilate_into(target: np.ndarray, mask: np.ndarray, iterations: int) -> None:
    """``target |= binary_dilation(mask, iterations)``, computed on ``mask``'s bounding box only."""
    win = bbox_window(mask, iterations + 1)
    if win is not None:
        target[win] |= ndimage.binary_dilation(mask[win], iterations=iterations)


def rasterize_polyline(shape: tuple[int, int], line: Polyline) -> tuple[np.ndarray, np.ndarray]:
    """Pixel rows/columns (inside ``shape``) that a densely sampled polyline passes through."""
    r = np.rint(line.y).astype(np.int64)
    c = np.rint(line.x).astype(np.int64)
    ok = (r >= 0) & (r < shape[0]) & (c >= 0) & (c < shape[1])
    return r[ok], c[ok]


def rotated_rect(
    shape: tuple[int, int],
    centre: tuple[float, float],
    half_len: float,
    half_wid: float,
    angle: float,
) -> tuple[slice, slice, np.ndarray]:
    """A rotated rectangle as ``(rows, cols, mask)`` over a window of ``shape``."""
    r = int(np.ceil(np.hypot(half_len, half_wid))) + 1
    cy, cx = centre
    y0, y1 = max(0, int(cy) - r), min(shape[0], int(cy) + r + 1)
    x0, x1 = max(0, int(cx) - r), min(shape[1], int(cx) + r + 1)
    if y1 <= y0 or x1 <= x0:
        return slice(0, 0), slice(0, 0), np.zeros((0, 0), bool)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dy, dx = yy - cy, xx - cx
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    mask = (np.abs(u) <= half_len) & (np.abs(v) <= half_wid)
    return slice(y0, y1), slice(x0, x1), mask


def _drainage(rng: np.random.Generator, n: int) -> tuple[list[Polyline], Polyline]:
    """Main river plus tributaries of two orders, extending beyond the scene on all sides."""
    heading = rng.uniform(0, 2 * np.pi)
    centre = np.array([n / 2, n / 2]) + rng.uniform(-0.12, 0.12, 2) * n
    main = sine_curve(
        rng, (0.0, 0.0), heading, 1.5 * n + 100, wavelength_px=rng.uniform(28, 45),
        omega=rng.uniform(0.7, 1.1), drift=0.05, order=3,
    )
    mid = main.y.size // 2
    main = Polyline(y=main.y - main.y[mid] + centre[0], x=main.x - main.x[mid] + centre[1], order=3)
    lines = [main]

    def branches(parent: Polyline, spacing: tuple[float, float], length_px: tuple[float, float],
                 order: int) -> list[Polyline]:
        out: list[Polyline] = []
        seg = np.hypot(np.diff(parent.y), np.diff(parent.x))
        arc = np.concatenate([[0.0], np.cumsum(seg)])
        pos = rng.uniform(*spacing) * 0.5
        side = rng.choice([-1.0, 1.0])
        while pos < arc[-1] - 5:
            i = int(np.searchsorted(arc, pos))
            i = min(max(i, 1), arc.size - 2)
            local = np.arctan2(parent.y[i + 1] - parent.y[i - 1], parent.x[i + 1] - parent.x[i - 1])
            # Upstream direction of a tributary: back against the parent's flow, off to one side.
            h = local + side * (np.pi - rng.uniform(0.6, 1.2))
            child = sine_curve(
                rng, (parent.y[i], parent.x[i]), h, rng.uniform(*length_px),
                wavelength_px=rng.uniform(14, 26), omega=rng.uniform(0.5, 0.9), drift=0.3,
                order=order,
            )
            inside = (child.y > -n * 0.3) & (child.y < n * 1.3) & (child.x > -n * 0.3) & (
                child.x < n * 1.3
            )
            if inside.any():
                out.append(child)
            side = -side if rng.random() < 0.8 else side
            pos += rng.uniform(*spacing)
        return out

    tribs = branches(main, (50, 100), (0.25 * n + 20, 0.7 * n + 60), 2)
    lines += tribs
    for t in tribs:
        lines += branches(t, (35, 70), (20, 60 + 0.1 * n), 1)
    return lines, main


def _soft(d: np.ndarray, width: np.ndarray | float, edge: float) -> np.ndarray:
    """1 inside ``d < width``, 0 outside, with a linear ramp ``edge`` wide (same units)."""
    return np.clip((width - d) / edge + 0.5, 0.0, 1.0).astype(np.float32)


def build_landscape(rng: np.random.Generator, n: int, *, tree_cover: float, villages_per_km2: float,
                    field_density: float) -> Landscape:
    """Lay out the static landscape of an ``n`` x ``n`` scene."""
    shape = (n, n)
    area_km2 = (n * PX_M / 1000.0) ** 2

    lines, main = _drainage(rng, n)
    streams = np.zeros(shape, np.uint8)
    for line in lines:
        r, c = rasterize_polyline(shape, line)
        np.maximum.at(streams, (r, c), line.order)

    # Distances to streams of at least each order (metres).
    dist = {}
    for order in (1, 2, 3):
        mask = streams >= order
        if mask.any():
            dist[order] = ndimage.distance_transform_edt(~mask).astype(np.float32) * PX_M
        else:
            dist[order] = np.full(shape, 1e6, np.float32)
    main_mask = streams == 3
    if main_mask.any():
        _, (iy, ix) = ndimage.distance_transform_edt(~main_mask, return_indices=True)
        seg = np.hypot(np.diff(main.y), np.diff(main.x))
        arc = np.concatenate([[0.0], np.cumsum(seg)])
        mr, mc = rasterize_polyline(shape, Polyline(main.y, main.x))
        inside = (np.rint(main.y) >= 0) & (np.rint(main.y) < n) & (np.rint(main.x) >= 0) & (
            np.rint(main.x) < n
        )
        arc_img = np.zeros(shape, np.float32)
        arc_img[mr, mc] = arc[inside]
        main_arc = arc_img[iy, ix]
    else:
        main_arc = np.zeros(shape, np.float32)

    # Gallery forest: wider along bigger streams, ragged edges.
    wnoise = smooth_field(rng, shape, 6.0)
    gal = np.zeros(shape, np.float32)
    for order, half_width in ((3, 60.0), (2, 35.0), (1, 20.0)):
        w = half_width * (1.0 + 0.35 * wnoise)
        gal = np.maximum(gal, _soft(dist[order], w, 15.0))

    # Savanna tree cover: patchy woodland and open grassland.
    big = fractal_field(rng, shape, 3.2, outer_px=120)
    small = smooth_field(rng, shape, 1.5)
    tc_sav = np.clip(tree_cover + 0.17 * big + 0.07 * small, 0.02, 0.8).astype(np.float32)
    tc = (gal * 0.92 + (1.0 - gal) * tc_sav).astype(np.float32)
    tcg = (gal * 0.92).astype(np.float32)

    tex = (1.0 + 0.045 * smooth_field(rng, shape, 0.8) + 0.03 * fractal_field(rng, shape, 2.5,
                                                                              outer_px=40))
    tex = tex.astype(np.float32)
    vig = (0.7 * smooth_field(rng, shape, 2.0)).astype(np.float32)

    lc = np.zeros(shape, np.uint8)
    occupied = np.zeros(shape, bool)

    # River channel (main river only; tributaries are hidden under the gallery canopy).
    water = _soft(dist[3], 9.0, 10.0) if main_mask.any() else np.zeros(shape, np.float32)
    n_ponds = int(area_km2 // 6) + (1 if n >= 256 else 0)
    cand = np.argwhere((streams >= 1) & (streams <= 2))
    for _ in range(n_ponds):
        if cand.size == 0:
            break
        cy, cx = cand[rng.integers(len(cand))]
        if min(cy, cx, n - 1 - cy, n - 1 - cx) < 20:
            continue
        b = blob(rng, shape, (cy, cx), rng.uniform(4, 9), roughness=0.25)
        water = np.maximum(water, ndimage.uniform_filter(b.astype(np.float32), 2))
    lc[water > 0.5] = LC_WATER
    occupied |= water > 0.02

    # Villages away from streams, fields around them, tracks to the scene edge.
    villages: list[tuple[float, float]] = []
    village = np.zeros(shape, np.float32)
    n_villages = max(1 if n >= 128 else 0, round(villages_per_km2 * area_km2))
    far = dist[1] > 250.0
    for _ in range(40 * max(n_villages, 1)):
        if len(villages) >= n_villages:
            break
        cy, cx = rng.uniform(0.1 * n, 0.9 * n, 2)
        if not far[int(cy), int(cx)]:
            continue
        if any(np.hypot(cy - vy, cx - vx) < 60 for vy, vx in villages):
            continue
        villages.append((float(cy), float(cx)))
        b = blob(rng, shape, (cy, cx), rng.uniform(7, 16), roughness=0.3)
        u = np.clip(0.6 + 0.35 * small, 0.3, 1.0)
        village = np.maximum(village, np.where(b, u, 0.0).astype(np.float32))
    lc[village > 0.5] = LC_VILLAGE
    occupied |= village > 0

    road = np.zeros(shape, np.float32)
    for vy, vx in villages:
        edge = rng.integers(4)
        target = [(0.0, vx + rng.uniform(-80, 80)), (n - 1.0, vx + rng.uniform(-80, 80)),
                  (vy + rng.uniform(-80, 80), 0.0), (vy + rng.uniform(-80, 80), n - 1.0)][edge]
        h = np.arctan2(target[0] - vy, target[1] - vx)
        track = sine_curve(rng, (vy, vx), h, np.hypot(target[0] - vy, target[1] - vx) + 5,
                           wavelength_px=80, omega=0.15, drift=0.05)
        r, c = rasterize_polyline(shape, track)
        road[r, c] = 0.65
    lc[(road > 0) & (lc == LC_SAVANNA)] = LC_ROAD
    occupied |= road > 0

    # Crop fields: rotated rectangles near villages, away from streams and each other.
    field_id = np.zeros(shape, np.int16)
    n_fields_target = round(field_density * area_km2)
    n_fields = 0
    attempts = 0
    while n_fields < n_fields_target and attempts < 60 * max(n_fields_target, 1):
        attempts += 1
        if villages and rng.random() < 0.75:
            vy, vx = villages[rng.integers(len(villages))]
            ang, rad = rng.uniform(0, 2 * np.pi), rng.uniform(18, 110)
            cy, cx = vy + rad * np.sin(ang), vx + rad * np.cos(ang)
        else:
            cy, cx = rng.uniform(0.05 * n, 0.95 * n, 2)
        half_len, half_wid = rng.uniform(3.5, 8.0), rng.uniform(2.5, 5.5)
        rs, cs, m = rotated_rect(shape, (cy, cx), half_len, half_wid, rng.uniform(0, np.pi))
        if m.sum() < 12:
            continue
        win_occ = occupied[rs, cs] | (dist[1][rs, cs] < 70.0)
        if (m & win_occ).any():
            continue
        n_fields += 1
        field_id[rs, cs][m] = n_fields
        occupied[rs, cs] |= ndimage.binary_dilation(m, iterations=1)
    lc[field_id > 0] = LC_FIELD

    # Ferricrete outcrops (bowal) on interfluves: static bare patches.
    rock = np.zeros(shape, np.float32)
    n_rock = round(0.15 * area_km2)
    for _ in range(n_rock):
        cy, cx = rng.uniform(0.05 * n, 0.95 * n, 2)
        if dist[1][int(cy), int(cx)] < 300 or occupied[int(cy), int(cx)]:
            continue
        b = blob(rng, shape, (cy, cx), rng.uniform(4, 10), roughness=0.4) & ~occupied
        rock = np.maximum(rock, b.astype(np.float32) * 0.85)
    lc[rock > 0.5] = LC_ROCK
    occupied |= rock > 0

    return Landscape(
        n=n, tc=tc, tcg=tcg, tex=tex, vig=vig, lc=lc, streams=streams,
        dist_stream=dist[1], dist_main=dist[3], main_arc=main_arc.astype(np.float32),
        water=Overlay.from_dense(water), village=Overlay.from_dense(village),
        road=Overlay.from_dense(road), rock=Overlay.from_dense(rock),
        field_id=field_id, n_fields=n_fields, occupied=occupied, main_river=main,
        villages=villages,
    )
