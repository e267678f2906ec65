"""Scenario definitions: where a scene is, its climate, and how much digging and of what kind.

Monthly climatologies are rough values for the Guinea/Sudan savanna of central Côte d'Ivoire
(unimodal rains, green June-October, dry and hazy with harmattan dust November-March) and for the
Marange plateau in eastern Zimbabwe (rains November-March, dry May-October, late dry-season fires).
They drive phenology, cloud frequency, haze, fire, crop and flood calendars.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

__all__ = ["SCENARIO_SPECS", "Climate", "ScenarioSpec", "seasonal"]


@dataclass(frozen=True)
class Climate:
    """Seasonal calendars of one climate; monthly values are for the middle of each month.

    Day-of-year windows are ``(first, last)``; ``first > last`` wraps over the new year.
    """

    name: str
    greenness: tuple[float, ...]  # 0 = fully dry, 1 = peak green
    cloud: tuple[float, ...]  # mean fraction of the scene under cloud
    cirrus: tuple[float, ...]  # probability that a date has thin cirrus
    haze: tuple[float, ...]  # mean residual aerosol haze, 0-1
    fire_window: tuple[int, int]  # when savanna fires burn
    fire_tau_days: tuple[float, float]  # char fades with this e-folding time
    crop_clear_window: tuple[int, int]  # land preparation: fields ploughed bare
    crop_green_after: tuple[int, int]  # canopy closes this many days after clearing
    crop_harvest_window: tuple[int, int]
    flood_peak_window: tuple[int, int]
    road_window: tuple[int, int]  # dry-season construction


WEST_AFRICA = Climate(
    name="guinea-savanna",
    greenness=(0.10, 0.05, 0.12, 0.30, 0.55, 0.75, 0.88, 0.97, 1.00, 0.85, 0.50, 0.22),
    cloud=(0.06, 0.10, 0.22, 0.40, 0.55, 0.70, 0.80, 0.85, 0.80, 0.55, 0.22, 0.08),
    cirrus=(0.1, 0.15, 0.3, 0.45, 0.5, 0.5, 0.45, 0.4, 0.45, 0.4, 0.25, 0.12),
    haze=(0.70, 0.60, 0.40, 0.25, 0.15, 0.10, 0.10, 0.10, 0.10, 0.15, 0.35, 0.60),
    fire_window=(320, 59),
    fire_tau_days=(35.0, 60.0),
    crop_clear_window=(105, 150),
    crop_green_after=(45, 70),
    crop_harvest_window=(288, 334),
    flood_peak_window=(235, 270),
    road_window=(335, 90),
)

ZIMBABWE = Climate(
    name="miombo-plateau",
    greenness=(0.85, 0.95, 0.85, 0.60, 0.35, 0.20, 0.12, 0.06, 0.04, 0.08, 0.30, 0.60),
    cloud=(0.55, 0.50, 0.40, 0.20, 0.08, 0.05, 0.04, 0.05, 0.08, 0.20, 0.40, 0.55),
    cirrus=(0.45, 0.45, 0.4, 0.3, 0.15, 0.1, 0.1, 0.15, 0.2, 0.3, 0.4, 0.45),
    haze=(0.10, 0.10, 0.10, 0.12, 0.20, 0.30, 0.40, 0.50, 0.50, 0.40, 0.20, 0.10),
    fire_window=(182, 288),
    fire_tau_days=(30.0, 50.0),
    crop_clear_window=(290, 335),
    crop_green_after=(40, 65),
    crop_harvest_window=(90, 135),
    flood_peak_window=(15, 55),
    road_window=(135, 260),
)


@dataclass(frozen=True)
class ScenarioSpec:
    """Everything that makes one scenario different from another.

    Densities are per km² of scene; areas in hectares; durations in days.
    """

    name: str
    lon: float
    lat: float
    climate: Climate
    description: str
    greenness_scale: float = 1.0  # < 1 for drier landscapes
    tree_cover: float = 0.3  # mean savanna tree cover
    site_density: float = 1.2  # artisanal sites per km²
    site_area_ha: tuple[float, float] = (0.5, 4.0)  # final area range (log-uniform)
    growth_days: tuple[float, float] = (60.0, 240.0)  # time to reach the final area
    pre_existing: float = 0.3  # share of sites already dug before the scene starts
    abandon: float = 0.25  # share of sites abandoned during the scene
    old_abandoned: float = 0.0  # share abandoned before the scene starts (revegetating)
    semi_mechanised: bool = False
    semi_area_ha: tuple[float, float] = (4.0, 8.0)  # at 256 px; scales with scene area
    fire_density: float = 0.6  # fire scars per km² per dry season
    field_density: float = 3.0  # crop fields per km²
    villages_per_km2: float = 0.12


SCENARIO_SPECS: dict[str, ScenarioSpec] = {
    spec.name: spec
    for spec in (
        ScenarioSpec(
            name="seguela",
            lon=-6.70,
            lat=8.00,
            climate=WEST_AFRICA,
            description="Séguéla-like Guinea savanna: steady new alluvial digging every quarter",
            site_density=1.3,
            semi_mechanised=True,
        ),
        ScenarioSpec(
            name="marange",
            lon=32.30,
            lat=-19.90,
            climate=ZIMBABWE,
            description="Marange-like dry miombo plateau: larger, faster digging",
            greenness_scale=0.75,
            tree_cover=0.22,
            site_density=1.6,
            site_area_ha=(1.0, 12.0),
            growth_days=(30.0, 120.0),
            pre_existing=0.4,
            abandon=0.15,
            semi_mechanised=True,
            semi_area_ha=(6.0, 12.0),
            fire_density=0.4,
            field_density=2.0,
        ),
        ScenarioSpec(
            name="tortiya",
            lon=-5.70,
            lat=8.80,
            climate=WEST_AFRICA,
            description="Tortiya-like: mostly old, abandoned, revegetating digging, little new",
            site_density=1.2,
            site_area_ha=(0.5, 5.0),
            pre_existing=0.85,
            abandon=0.2,
            old_abandoned=0.75,
        ),
        ScenarioSpec(
            name="quiet",
            lon=-6.90,
            lat=8.20,
            climate=WEST_AFRICA,
            description="Séguéla-like savanna with every confounder and no digging at all",
            site_density=0.0,
        ),
    )
}


def _doy_curve(values: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    mids = np.array([15.5 + 30.42 * i for i in range(12)])
    xs = np.concatenate([mids - 365.0, mids, mids + 365.0])
    ys = np.tile(np.asarray(values, float), 3)
    return xs, ys


def seasonal(values: tuple[float, ...], day: date | int) -> float:
    """Interpolate a 12-value monthly climatology at a date (or day of year), periodically."""
    doy = day.timetuple().tm_yday if isinstance(day, date) else int(day)
    xs, ys = _doy_curve(values)
    return float(np.interp(doy, xs, ys))
