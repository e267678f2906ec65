"""A scene's static world: grid, landscape, mining, confounders, and its acquisition calendar.

The world is a pure function of ``(scenario, seed, size, start, end)``; each part draws from its
own random stream (:func:`geomon.sample._noise.rng_for`), so changing one part's code does not
reshuffle the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
from scipy import ndimage

from geomon.sample._confounders import (
    CropEvent,
    Fire,
    Flood,
    FloodPlain,
    Road,
    crop_calendar,
    fire_scars,
    flood_events,
    flood_plain,
    new_road,
)
from geomon.sample._dates import EPOCH, day_of
from geomon.sample._grid import Grid, make_grid, mgrs_tile
from geomon.sample._mining import Mining, place_sites
from geomon.sample._noise import rng_for
from geomon.sample._scenarios import SCENARIO_SPECS, ScenarioSpec, seasonal
from geomon.sample._terrain import LC_WATER, Landscape, build_landscape

__all__ = ["Acquisition", "World", "acquisition_dates", "build_world"]

REVISIT_DAYS = 5
#: A date on which Sentinel-2A imaged the tiles of every scenario's relative orbit (sets A/B).
_S2A_REFERENCE = date(2017, 7, 6)


@dataclass(frozen=True)
class Acquisition:
    """One Sentinel-2 overpass."""

    index: int
    day: int
    date: date
    datetime: datetime  # UTC
    platform: str  # "sentinel-2a" | "sentinel-2b"
    item_id: str
    sun_azimuth: float  # degrees clockwise from north
    sun_elevation: float  # degrees


@dataclass(frozen=True)
class World:
    """Everything about a scene that does not change from one date to the next."""

    spec: ScenarioSpec
    seed: int
    grid: Grid
    start: date
    end: date
    land: Landscape
    road: Road
    floodplain: FloodPlain
    floods: list[Flood]
    crops: list[CropEvent]
    fires: list[Fire]
    mining: Mining
    mgrs: tuple[int, str, str]
    acquisitions: list[Acquisition]

    @property
    def n(self) -> int:
        return self.grid.size

    def greenness(self, day: int) -> float:
        g = seasonal(self.spec.climate.greenness, EPOCH + timedelta(days=day))
        return g * self.spec.greenness_scale

    def wetness(self, day: int) -> float:
        """Surface moisture 0-1: follows the rains (greenness) a few weeks earlier."""
        g = seasonal(self.spec.climate.greenness, EPOCH + timedelta(days=day + 20))
        return float(np.clip((g - 0.3) / 0.6, 0.0, 1.0))


def _sun_position(when: datetime, lon: float, lat: float) -> tuple[float, float]:
    """Approximate solar azimuth and elevation in degrees (NOAA formulae, ~0.5 degree)."""
    doy = when.timetuple().tm_yday
    hours = when.hour + when.minute / 60 + when.second / 3600
    gamma = 2 * math.pi / 365 * (doy - 1 + (hours - 12) / 24)
    decl = (0.006918 - 0.399912 * math.cos(gamma) + 0.070257 * math.sin(gamma)
            - 0.006758 * math.cos(2 * gamma) + 0.000907 * math.sin(2 * gamma)
            - 0.002697 * math.cos(3 * gamma) + 0.00148 * math.sin(3 * gamma))
    eqtime = 229.18 * (0.000075 + 0.001868 * math.cos(gamma) - 0.032077 * math.sin(gamma)
                       - 0.014615 * math.cos(2 * gamma) - 0.040849 * math.sin(2 * gamma))
    tst = hours * 60 + eqtime + 4 * lon
    ha = math.radians(tst / 4 - 180)
    phi = math.radians(lat)
    cos_zen = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(ha)
    zen = math.acos(max(-1.0, min(1.0, cos_zen)))
    az = math.degrees(math.atan2(math.sin(ha),
                                 math.cos(ha) * math.sin(phi) - math.tan(decl) * math.cos(phi)))
    return (az + 180.0) % 360.0, 90.0 - math.degrees(zen)


def acquisition_dates(start: date, end: date) -> list[date]:
    """Every fifth day from ``start`` to ``end`` inclusive."""
    days = (end - start).days
    return [start + timedelta(days=k) for k in range(0, days + 1, REVISIT_DAYS)]


def _acquisitions(spec: ScenarioSpec, seed: int, tile: tuple[int, str, str], start: date,
                  end: date) -> list[Acquisition]:
    rng = rng_for(seed, spec.name, "overpass")
    # Sentinel-2 crosses the equator descending at 10:30 local solar time; a little earlier
    # further north. Same orbit every date, so only seconds of jitter.
    local_h = 10.5 - spec.lat / 90.0 * 0.25
    base_utc_s = (local_h - spec.lon / 15.0) * 3600.0
    out = []
    code = f"{tile[0]}{tile[1]}{tile[2]}"
    for i, d in enumerate(acquisition_dates(start, end)):
        cycle = (d - _S2A_REFERENCE).days // REVISIT_DAYS
        platform = "sentinel-2a" if cycle % 2 == 0 else "sentinel-2b"
        secs = base_utc_s + rng.uniform(-20.0, 20.0)
        when = datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(
            seconds=round(secs, 3))
        az, el = _sun_position(when, spec.lon, spec.lat)
        item_id = f"S2{platform[-1].upper()}_{code}_{d:%Y%m%d}_0_L2A"
        out.append(Acquisition(index=i, day=day_of(d), date=d, datetime=when, platform=platform,
                               item_id=item_id, sun_azimuth=az, sun_elevation=el))
    return out


def build_world(scenario: str, seed: int, size: int, start: date, end: date) -> World:
    """Build the static world of a scene (deterministic in all arguments)."""
    spec = SCENARIO_SPECS[scenario]
    grid = make_grid(spec.lon, spec.lat, size)
    first, last = day_of(start), day_of(end)
    clim = spec.climate

    land = build_landscape(rng_for(seed, spec.name, "landscape", size), size,
                           tree_cover=spec.tree_cover, villages_per_km2=0.08,
                           field_density=spec.field_density)
    road = new_road(rng_for(seed, spec.name, "road", size), land, clim, first, last)
    plain = flood_plain(rng_for(seed, spec.name, "floodplain", size), land)
    floods = flood_events(rng_for(seed, spec.name, "floods"), clim, first, last)

    avoid = land.occupied.copy()
    avoid.ravel()[road.idx] = True
    avoid.ravel()[plain.idx] = True
    avoid = ndimage.binary_dilation(avoid, iterations=1) | (land.lc == LC_WATER)
    mining = place_sites(rng_for(seed, spec.name, "mining", size), land, spec, avoid, first, last)

    fire_avoid = avoid.copy()
    if mining.idx.size:
        dug = np.zeros(size * size, bool)
        dug[mining.idx] = True
        fire_avoid |= ndimage.binary_dilation(dug.reshape(size, size), iterations=10)
    fires = fire_scars(rng_for(seed, spec.name, "fires", size), land, fire_avoid, clim, first,
                       last, spec.fire_density)
    crops = crop_calendar(rng_for(seed, spec.name, "crops"), land.n_fields, clim, first, last)

    tile = mgrs_tile(spec.lon, spec.lat)
    return World(spec=spec, seed=seed, grid=grid, start=start, end=end, land=land, road=road,
                 floodplain=plain, floods=floods, crops=crops, fires=fires, mining=mining,
                 mgrs=tile, acquisitions=_acquisitions(spec, seed, tile, start, end))
