"""Top-of-atmosphere (Level-1C) reflectance of one acquisition, for the cloud-probability model.

s2cloudless reads ten L1C bands: B01 B02 B04 B05 B08 B8A B09 B10 B11 B12. They are made from the
acquisition's own surface reflectance with its sky already applied (so clouds, shadows, haze and
cirrus are exactly those of the L2A item) through a simple plane-parallel atmosphere::

    TOA = T(b) * BOA + P(b) * (1 - 0.6 * cloud opacity)

with a two-way transmittance ``T`` (low in the B09 water-vapour band, higher above a cloud top)
and a path reflectance ``P`` (Rayleigh + aerosol, strongest in the coastal and blue bands). The
bands L2A does not have come from their neighbours: B01 from blue, B09 from B8A. B10 (1.375 µm)
sits in a strong water-vapour absorption band, so the ground is almost black in it and only high
cloud shows: cirrus, and thick cloud by its height. Clouds stay bright and white in every band.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geomon.sample._clouds import Sky, block_mean
from geomon.sample._spectra import BANDS

__all__ = ["L1C_BANDS", "L1cBand", "toa_bands"]


@dataclass(frozen=True)
class L1cBand:
    """One Earth Search ``sentinel-2-l1c`` asset the simulator writes."""

    key: str  # asset key (Earth Search v1), e.g. "cirrus"
    file: str  # file name stem, e.g. "B10"
    title: str
    center: float  # micrometres
    fwhm: float
    res: int  # metres
    source: str | None  # L2A band it is derived from; None for B10
    transmittance: float  # two-way, clear sky
    path: float  # path reflectance, clear sky


#: The ten bands of s2cloudless's ``all_bands=False`` model, in the model's order.
L1C_BANDS: tuple[L1cBand, ...] = (
    L1cBand("coastal", "B01", "Coastal aerosol (band 1)", 0.443, 0.027, 60, "blue", 0.72, 0.120),
    L1cBand("blue", "B02", "Blue (band 2)", 0.49, 0.098, 10, "blue", 0.80, 0.085),
    L1cBand("red", "B04", "Red (band 4)", 0.665, 0.038, 10, "red", 0.88, 0.040),
    L1cBand("rededge1", "B05", "Red edge 1 (band 5)", 0.704, 0.019, 20, "rededge1", 0.90, 0.032),
    L1cBand("nir", "B08", "NIR 1 (band 8)", 0.842, 0.145, 10, "nir", 0.92, 0.020),
    L1cBand("nir08", "B8A", "NIR 2 (band 8A)", 0.865, 0.033, 20, "nir08", 0.93, 0.018),
    L1cBand("nir09", "B09", "NIR 3 (band 9)", 0.945, 0.026, 60, "nir08", 0.40, 0.010),
    L1cBand("cirrus", "B10", "Cirrus (band 10)", 1.3735, 0.075, 60, None, 0.0, 0.0),
    L1cBand("swir16", "B11", "SWIR 1 (band 11)", 1.61, 0.143, 20, "swir16", 0.94, 0.004),
    L1cBand("swir22", "B12", "SWIR 2 (band 12)", 2.19, 0.242, 20, "swir22", 0.92, 0.002),
)

#: B10 reflectance of the ground (the water vapour above absorbs nearly all of it).
_B10_GROUND = 0.002
#: B10 reflectance of an opaque cloud top per km of cloud height.
_B10_CLOUD_PER_KM = 0.045


def _block(a: np.ndarray, f: int) -> np.ndarray:
    """``f`` x ``f`` block mean, padding the edge so partial blocks count (10 m to 20/60 m)."""
    if f == 1:
        return a
    if f == 2 and a.shape[0] % 2 == 0:
        return block_mean(a)
    n = a.shape[0]
    m = -(-n // f)
    padded = np.pad(a, ((0, m * f - n), (0, m * f - a.shape[1])), mode="edge")
    return padded.reshape(m, f, m, f).mean(axis=(1, 3), dtype=np.float32)


def _cirrus_band(boa: np.ndarray, sky: Sky) -> np.ndarray:
    out = np.full(boa.shape[1:], _B10_GROUND, np.float32)
    out += np.float32(0.01) * boa[BANDS.index("nir08")]  # a trace of the ground in dry air
    if sky.cirrus is not None:
        out += sky.cirrus
    if sky.alpha is not None:
        out += sky.alpha * np.float32(_B10_CLOUD_PER_KM * sky.cloud_height_m / 1000.0)
    return out


def toa_bands(boa: np.ndarray, sky: Sky, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """TOA reflectance of the ten L1C bands, each on its native grid (file stem → array).

    Parameters
    ----------
    boa
        ``(10, n, n)`` surface reflectance of :data:`geomon.sample._spectra.BANDS` with the
        date's sky (clouds, shadow, haze, cirrus) applied, before sensor noise.
    sky
        The date's sky.
    rng
        Random stream for the sensor noise of the L1C bands.
    """
    alpha = sky.alpha if sky.alpha is not None else np.zeros(boa.shape[1:], np.float32)
    above = np.float32(0.8) * alpha  # share of the signal coming from above the vapour
    out = {}
    for band in L1C_BANDS:
        if band.source is None:
            toa = _cirrus_band(boa, sky)
        else:
            t = np.float32(band.transmittance)
            toa = boa[BANDS.index(band.source)] * (t + (1 - t) * above)
            toa += np.float32(band.path) * (1 - np.float32(0.6) * alpha)
        toa = _block(toa.astype(np.float32, copy=False), band.res // 10)
        toa += (0.002 + 0.01 * np.abs(toa)) * rng.standard_normal(toa.shape, dtype=np.float32)
        out[band.file] = toa
    return out
