"""Sentinel-2 bands and a small library of L2A surface-reflectance spectra with phenology.

Values are bottom-of-atmosphere reflectance for the ten bands in :data:`BANDS` order. Vegetation
and soil levels were set against the real Sentinel-2 reference data in
``/work/shared/data/real-s2-slovenia`` (forest red ~0.03-0.05, NIR ~0.25-0.35, SWIR-2 ~0.04-0.09,
within-class spread 5-20 %; top of atmosphere there, so the blue band is set lower here, as
atmospheric correction removes most of the path radiance) and against published spectra of
lateritic soils, quartz gravel, burned savanna and turbid water.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BANDS", "BAND_INFO", "Band", "Endmembers", "endmembers"]


@dataclass(frozen=True)
class Band:
    """One Earth Search ``sentinel-2-l2a`` reflectance asset."""

    key: str  # asset key, e.g. "blue"
    file: str  # file name, e.g. "B02"
    title: str
    common_name: str
    center: float  # micrometres
    fwhm: float
    res: int  # metres


BAND_INFO: tuple[Band, ...] = (
    Band("blue", "B02", "Blue (band 2)", "blue", 0.49, 0.098, 10),
    Band("green", "B03", "Green (band 3)", "green", 0.56, 0.045, 10),
    Band("red", "B04", "Red (band 4)", "red", 0.665, 0.038, 10),
    Band("rededge1", "B05", "Red edge 1 (band 5)", "rededge", 0.704, 0.019, 20),
    Band("rededge2", "B06", "Red edge 2 (band 6)", "rededge", 0.74, 0.018, 20),
    Band("rededge3", "B07", "Red edge 3 (band 7)", "rededge", 0.783, 0.028, 20),
    Band("nir", "B08", "NIR 1 (band 8)", "nir", 0.842, 0.145, 10),
    Band("nir08", "B8A", "NIR 2 (band 8A)", "nir08", 0.865, 0.033, 20),
    Band("swir16", "B11", "SWIR 1 (band 11)", "swir16", 1.61, 0.143, 20),
    Band("swir22", "B12", "SWIR 2 (band 12)", "swir22", 2.19, 0.242, 20),
)
BANDS: tuple[str, ...] = tuple(b.key for b in BAND_INFO)
IDX10 = tuple(i for i, b in enumerate(BAND_INFO) if b.res == 10)  # blue, green, red, nir
IDX20 = tuple(i for i, b in enumerate(BAND_INFO) if b.res == 20)
RED, NIR = BANDS.index("red"), BANDS.index("nir")


def _s(*v: float) -> np.ndarray:
    return np.array(v, np.float32)


#         B02    B03    B04    B05    B06    B07    B08    B8A    B11    B12
TREE_SAV_WET = _s(0.030, 0.060, 0.035, 0.095, 0.240, 0.300, 0.320, 0.340, 0.190, 0.090)
TREE_SAV_DRY = _s(0.045, 0.070, 0.070, 0.120, 0.200, 0.230, 0.250, 0.270, 0.260, 0.160)
TREE_GAL_WET = _s(0.022, 0.048, 0.025, 0.080, 0.260, 0.330, 0.350, 0.370, 0.170, 0.070)
TREE_GAL_DRY = _s(0.026, 0.052, 0.032, 0.088, 0.240, 0.300, 0.320, 0.340, 0.185, 0.082)
GRASS_WET = _s(0.035, 0.070, 0.045, 0.110, 0.260, 0.320, 0.340, 0.360, 0.230, 0.115)
GRASS_DRY = _s(0.075, 0.100, 0.135, 0.175, 0.210, 0.230, 0.245, 0.265, 0.360, 0.270)
CROP_GREEN = _s(0.030, 0.070, 0.035, 0.100, 0.300, 0.390, 0.410, 0.430, 0.220, 0.095)
SOIL = _s(0.060, 0.085, 0.125, 0.160, 0.185, 0.200, 0.210, 0.225, 0.290, 0.240)  # tilled, red
SPOIL = _s(0.160, 0.200, 0.240, 0.270, 0.285, 0.295, 0.300, 0.315, 0.420, 0.360)  # gravel
TURBID = _s(0.060, 0.095, 0.105, 0.095, 0.065, 0.052, 0.045, 0.040, 0.018, 0.012)
ALGAL = _s(0.030, 0.052, 0.038, 0.045, 0.050, 0.055, 0.055, 0.052, 0.014, 0.009)
CLEAR = _s(0.040, 0.050, 0.030, 0.022, 0.014, 0.011, 0.009, 0.008, 0.004, 0.003)
RIVER_WET = _s(0.050, 0.075, 0.070, 0.060, 0.040, 0.032, 0.027, 0.024, 0.010, 0.007)
FLOOD = _s(0.050, 0.075, 0.075, 0.072, 0.062, 0.058, 0.054, 0.050, 0.026, 0.016)
CHAR = _s(0.030, 0.035, 0.040, 0.050, 0.060, 0.068, 0.072, 0.078, 0.085, 0.065)
ROAD = _s(0.085, 0.125, 0.200, 0.240, 0.260, 0.270, 0.280, 0.295, 0.370, 0.310)  # laterite
VILLAGE = _s(0.095, 0.115, 0.135, 0.165, 0.195, 0.210, 0.220, 0.235, 0.290, 0.240)
ROCK = _s(0.055, 0.075, 0.105, 0.135, 0.160, 0.175, 0.185, 0.200, 0.260, 0.220)  # ferricrete
VIGOUR = _s(-0.002, -0.002, -0.006, -0.004, 0.010, 0.015, 0.020, 0.020, -0.010, -0.008)

#: Cloud-top reflectance (bright, flat, lower in the SWIR where ice and droplets absorb).
CLOUD = _s(0.46, 0.46, 0.47, 0.48, 0.49, 0.49, 0.50, 0.50, 0.38, 0.27)
#: Thin cirrus adds nearly flat reflectance, weaker in the SWIR.
CIRRUS = _s(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.55)
#: Residual aerosol haze after atmospheric correction (strongest in the blue).
HAZE = _s(0.035, 0.028, 0.020, 0.016, 0.013, 0.011, 0.010, 0.009, 0.004, 0.002)
#: Fraction of light left in cloud shadow (diffuse sky light is bluer).
SHADOW_KEEP = _s(0.45, 0.40, 0.35, 0.31, 0.30, 0.28, 0.27, 0.27, 0.25, 0.25)
#: Sensor noise (reflectance units): a floor plus a share of the signal.
NOISE_FLOOR = _s(0.0020, 0.0020, 0.0020, 0.0025, 0.0025, 0.0030, 0.0035, 0.0035, 0.0030, 0.0030)
NOISE_REL = 0.012


@dataclass(frozen=True)
class Endmembers:
    """Spectra of one date (each a float32 array of 10 bands)."""

    greenness: float
    tree_sav: np.ndarray
    tree_gal: np.ndarray
    grass: np.ndarray
    fallow: np.ndarray
    crop: np.ndarray
    soil: np.ndarray
    spoil: np.ndarray
    turbid: np.ndarray
    algal: np.ndarray
    river: np.ndarray
    flood: np.ndarray
    char: np.ndarray
    road: np.ndarray
    village: np.ndarray
    rock: np.ndarray
    vigour: np.ndarray


def _mix(dry: np.ndarray, wet: np.ndarray, g: float) -> np.ndarray:
    return (dry + np.float32(g) * (wet - dry)).astype(np.float32)


def endmembers(greenness: float, wetness: float) -> Endmembers:
    """Spectra for a date with vegetation ``greenness`` and surface ``wetness`` (both 0-1).

    Savanna trees leaf out ahead of the grass and keep some leaves through the dry season;
    gallery forest stays green all year; wet soil and gravel are darker.
    """
    g = float(np.clip(greenness, 0.0, 1.0))
    damp = 1.0 - 0.12 * wetness
    grass = _mix(GRASS_DRY, GRASS_WET, g)
    return Endmembers(
        greenness=g,
        tree_sav=_mix(TREE_SAV_DRY, TREE_SAV_WET, 0.25 + 0.75 * g),
        tree_gal=_mix(TREE_GAL_DRY, TREE_GAL_WET, 0.6 + 0.4 * g),
        grass=grass,
        fallow=(0.6 * grass + 0.4 * SOIL * damp).astype(np.float32),
        crop=CROP_GREEN,
        soil=(SOIL * damp).astype(np.float32),
        spoil=(SPOIL * damp).astype(np.float32),
        turbid=TURBID,
        algal=ALGAL,
        river=_mix(CLEAR, RIVER_WET, wetness),
        flood=FLOOD,
        char=CHAR,
        road=(ROAD * (1.0 - 0.06 * wetness)).astype(np.float32),
        village=_mix(VILLAGE, 0.8 * VILLAGE + 0.2 * TREE_SAV_WET, g),
        rock=_mix(ROCK, 0.8 * ROCK + 0.2 * GRASS_WET, g),
        vigour=(VIGOUR * np.float32(0.3 + 0.7 * g)).astype(np.float32),
    )
