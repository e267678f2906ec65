"""Changes that are not mining but fool a naive detector: fire scars, crops, floods, a new road.

Each is a static footprint plus a calendar of events; the renderer turns the calendar into
per-date spectra and :mod:`geomon.sample._truth` turns the footprints into ``confounders.geojson``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from geomon.sample._dates import season_windows
from geomon.sample._noise import blob, smooth_field
from geomon.sample._scenarios import Climate
from geomon.sample._terrain import (
    LC_SAVANNA,
    LC_WATER,
    PX_M,
    Landscape,
    bbox_window,
    dilate_into,
    rasterize_polyline,
    sine_curve,
)

__all__ = [
    "CropEvent",
    "Fire",
    "Flood",
    "FloodPlain",
    "Road",
    "crop_calendar",
    "fire_scars",
    "flood_events",
    "flood_plain",
    "new_road",
]


@dataclass(frozen=True)
class Road:
    """A laterite road built between ``start`` and ``end``; each pixel is built on ``idx_day``."""

    idx: np.ndarray  # flat pixel indices
    frac: np.ndarray  # fraction of the pixel that is road surface
    idx_day: np.ndarray  # float32 day the pixel is cleared
    start: int
    end: int


@dataclass(frozen=True)
class FloodPlain:
    """Low ground along part of the main river; ``h`` is relative height (0 = channel bank)."""

    idx: np.ndarray
    h: np.ndarray  # float32, flooded when the flood level exceeds h


@dataclass(frozen=True)
class Flood:
    peak: int
    level: float  # the highest level reached (compare with FloodPlain.h)
    rise_days: int
    fall_days: int

    @property
    def start(self) -> int:
        return self.peak - self.rise_days

    @property
    def end(self) -> int:
        return self.peak + self.fall_days

    def level_at(self, day: int) -> float:
        """Water level on ``day`` (0 outside the event)."""
        if day <= self.start or day >= self.end:
            return 0.0
        if day <= self.peak:
            return self.level * (day - self.start) / self.rise_days
        return self.level * (self.end - day) / self.fall_days


@dataclass(frozen=True)
class Fire:
    """A savanna fire scar: burns on ``day``, char fades with e-folding time ``tau`` days."""

    id: int
    day: int
    tau: float
    idx: np.ndarray  # flat pixel indices

    @property
    def end(self) -> int:
        """When the char has faded to a tenth (about 2.3 tau after the fire)."""
        return int(self.day + round(2.3 * self.tau))

    def intensity(self, day: int) -> float:
        if day < self.day:
            return 0.0
        return float(np.exp(-(day - self.day) / self.tau))


@dataclass(frozen=True)
class CropEvent:
    """One cropping season of one field: ploughed bare, green canopy, harvested."""

    field: int  # 0-based field index
    clear: int  # ploughed bare from this day
    green: int  # canopy closed (NDVI back up) by this day
    harvest: int

    def weights(self, day: int) -> tuple[float, float, float] | None:
        """``(soil, crop, stubble)`` weights on ``day``, or None if the event is not under way."""
        if day < self.clear or day > self.harvest + 120:
            return None
        if day < self.clear + 10:  # ploughing: fallow turns to soil over ten days
            f = (day - self.clear) / 10.0
            return f, 0.0, 1.0 - f
        emerge = self.clear + 0.45 * (self.green - self.clear)
        if day < emerge:
            return 1.0, 0.0, 0.0
        if day < self.green:
            f = (day - emerge) / (self.green - emerge)
            return 1.0 - f, f, 0.0
        if day < self.harvest:
            return 0.0, 1.0, 0.0
        f = min(1.0, (day - self.harvest) / 20.0)  # harvest: crop to stubble over 20 days
        return 0.15 * f, 1.0 - f, 0.85 * f


def new_road(rng: np.random.Generator, land: Landscape, climate: Climate, first: int,
             last: int) -> Road:
    """A new laterite road built in a dry season within ``first..last`` (day numbers)."""
    n = land.n
    if land.villages:
        vy, vx = land.villages[rng.integers(len(land.villages))]
    else:
        vy, vx = rng.uniform(0.3 * n, 0.7 * n, 2)
    heading = rng.uniform(0, 2 * np.pi)
    line = sine_curve(rng, (vy, vx), heading, rng.uniform(0.6, 1.0) * n, wavelength_px=120,
                      omega=0.2, drift=0.05)
    shape = (n, n)
    r, c = rasterize_polyline(shape, line)
    core = np.zeros(shape, bool)
    core[r, c] = True
    along = np.full(shape, np.inf, np.float32)
    seg = np.hypot(np.diff(line.y), np.diff(line.x))
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    inside = (np.rint(line.y) >= 0) & (np.rint(line.y) < n) & (np.rint(line.x) >= 0) & (
        np.rint(line.x) < n
    )
    along[r, c] = arc[inside]
    # Two pixels wide: the carriageway plus cleared shoulders (partly covered pixels).
    wide = ndimage.binary_dilation(core, structure=np.ones((2, 2), bool))
    frac = np.where(core, 1.0, np.where(wide, 0.55, 0.0)).astype(np.float32)
    along = ndimage.grey_erosion(along, size=(3, 3))  # shoulders take the neighbouring arc
    frac[(land.lc == LC_WATER) & (frac > 0)] *= 0.3  # a bridge or ford over the river
    idx = np.flatnonzero(frac > 0).astype(np.int32)

    # Build in a dry season inside the range, leaving time before (a baseline) and after.
    lo_ok, hi_ok = first + 10, last - 40
    spans = [(max(a, lo_ok), min(b, hi_ok)) for a, b in season_windows(climate.road_window,
                                                                        first, last)]
    spans = [s for s in spans if s[1] - s[0] >= 10]
    if spans:
        a, b = spans[int(rng.integers(len(spans)))]
        start = int(rng.uniform(a, b))
    else:
        start = int(first + rng.uniform(0.2, 0.6) * max(last - first, 1))
    duration = int(rng.uniform(20, 60))
    a = along.ravel()[idx]
    a = (a - a.min()) / max(float(np.ptp(a)), 1.0)
    return Road(idx=idx, frac=frac.ravel()[idx], idx_day=(start + a * duration).astype(np.float32),
                start=start, end=start + duration)


def flood_plain(rng: np.random.Generator, land: Landscape) -> FloodPlain:
    """Low ground along a 40-70 % stretch of the main river (in the scene) that floods."""
    n = land.n
    near = land.dist_main < 160.0
    if not near.any():
        return FloodPlain(idx=np.zeros(0, np.int32), h=np.zeros(0, np.float32))
    arcs = land.main_arc[near]
    lo, hi = float(arcs.min()), float(arcs.max())
    span = (hi - lo) * rng.uniform(0.4, 0.7)
    a0 = rng.uniform(lo, hi - span)
    width = rng.uniform(70.0, 130.0)  # metres each side at the highest floods
    noise = smooth_field(rng, (n, n), 4.0)
    h = land.dist_main / width + 0.25 * noise
    stretch = (land.main_arc >= a0) & (land.main_arc <= a0 + span)
    zone = near & stretch & (h < 1.0) & (land.lc != LC_WATER) & (land.dist_main > PX_M * 0.9)
    idx = np.flatnonzero(zone).astype(np.int32)
    return FloodPlain(idx=idx, h=np.clip(h.ravel()[idx], 0.02, None).astype(np.float32))


def flood_events(rng: np.random.Generator, climate: Climate, first: int, last: int) -> list[Flood]:
    """One flood per wet season whose peak falls in ``climate.flood_peak_window``."""
    out = []
    for w0, w1 in season_windows(climate.flood_peak_window, first - 60, last + 60):
        ev = Flood(peak=int(rng.uniform(w0, w1)), level=float(rng.uniform(0.6, 0.95)),
                   rise_days=int(rng.uniform(15, 30)), fall_days=int(rng.uniform(30, 60)))
        if ev.end >= first and ev.start <= last:
            out.append(ev)
    return out


def crop_calendar(rng: np.random.Generator, n_fields: int, climate: Climate, first: int,
                  last: int) -> list[CropEvent]:
    """Cropping seasons of every field; about one field in seven lies fallow each season."""
    events = []
    clear_windows = season_windows(climate.crop_clear_window, first - 400, last)
    for f in range(n_fields):
        for w0, w1 in clear_windows:
            if rng.random() < 0.15:
                continue
            clear = int(rng.uniform(w0, w1))
            green = clear + int(rng.uniform(*climate.crop_green_after))
            harvests = season_windows(climate.crop_harvest_window, green + 30, green + 400)
            h0, h1 = harvests[0] if harvests else (green + 90, green + 120)
            harvest = int(rng.uniform(max(h0, green + 30), max(h1, green + 31)))
            events.append(CropEvent(field=f, clear=clear, green=green, harvest=harvest))
    return events


def fire_scars(rng: np.random.Generator, land: Landscape, avoid: np.ndarray, climate: Climate,
               first: int, last: int, density: float) -> list[Fire]:
    """Dry-season fire scars in open savanna, stopped by streams, fields, roads and villages."""
    n = land.n
    area_km2 = (n * PX_M / 1000.0) ** 2
    scale = float(np.clip(np.sqrt(area_km2 / 6.5536), 0.4, 3.0))
    burnable = (land.lc == LC_SAVANNA) & (land.tcg < 0.3) & ~avoid
    taken = np.zeros((n, n), bool)
    fires: list[Fire] = []
    windows = season_windows(climate.fire_window, first - 90, last)
    for w0, w1 in windows:
        lo, hi = max(w0, first - 90), min(w1, last - 5)
        if hi <= lo:
            continue
        count = max(1, round(density * area_km2))
        for _ in range(count):
            for _attempt in range(30):
                cy, cx = rng.uniform(0.05 * n, 0.95 * n, 2)
                if burnable[int(cy), int(cx)] and not taken[int(cy), int(cx)]:
                    break
            else:
                continue
            area_ha = float(np.exp(rng.uniform(np.log(2.0), np.log(20.0)))) * scale
            area_ha = min(area_ha, 0.04 * area_km2 * 100)
            radius = np.sqrt(area_ha * 100 / np.pi)  # pixels of 0.01 ha
            b = blob(rng, (n, n), (cy, cx), radius, roughness=0.45) & burnable & ~taken
            win = bbox_window(b, 1)
            if win is None:
                continue
            lab, _ = ndimage.label(b[win])
            at = lab[int(cy) - win[0].start, int(cx) - win[1].start]
            keep = np.zeros_like(b)
            keep[win] = lab == at if at else b[win]
            if keep.sum() < 20:
                continue
            dilate_into(taken, keep, 2)
            day = int(rng.uniform(lo, hi))
            tau = float(rng.uniform(*climate.fire_tau_days))
            fires.append(Fire(id=len(fires), day=day, tau=tau,
                              idx=np.flatnonzero(keep).astype(np.int32)))
    return fires

