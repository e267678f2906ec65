"""The sky of one date: clouds, their shadows, thin cirrus, haze, swath edges, and the SCL map.

Clouds are a fractal random field thresholded at the date's cover fraction, so they are
spatially correlated with soft, ragged edges. Cover is drawn from a Beta distribution around the
month's climatological mean, so the wet season has many overcast dates and the dry season mostly
clear ones. Shadows are the cloud field moved away from the sun by cloud height / tan(elevation).

The scene classification (SCL) is made from the truth the way Sen2Cor gets it mostly right: thick
cloud is 9, medium 8, cirrus 10, shadow 3, water 6, vegetation 4, bare 5; but the thin edges of
clouds are missed, some shadows are missed, and on some dates bright fresh spoil and gravel is
labelled cloud (8/9), as DESIGN.md section 2 warns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from geomon.sample._noise import fractal_field, smooth_field, upsample
from geomon.sample._scenarios import Climate, seasonal

__all__ = ["Sky", "make_sky", "scene_classification"]

# SCL codes (Sen2Cor).
NODATA, SATURATED, DARK, SHADOW, VEG, BARE, WATER, UNCLASSIFIED = 0, 1, 2, 3, 4, 5, 6, 7
CLOUD_MED, CLOUD_HIGH, CIRRUS, SNOW = 8, 9, 10, 11

#: Opacity above which a pixel counts as cloud in the truth (``eo:cloud_cover``).
CLOUD_TRUTH_ALPHA = 0.2
#: Cirrus reflectance above which a pixel counts as (thin) cloud in the truth.
CIRRUS_TRUTH = 0.02


@dataclass(frozen=True)
class Sky:
    """Atmospheric state of one date on the 10 m grid (``(n, n)`` float32 arrays or None)."""

    alpha: np.ndarray | None  # cloud opacity 0-1
    shadow: np.ndarray | None  # shadow strength 0-1
    cirrus: np.ndarray | None  # added cirrus reflectance
    haze: np.ndarray  # residual haze, 0-1
    valid20: np.ndarray | None  # bool on the 20 m grid; None = no swath edge
    false_cloud_spoil: bool  # this date's SCL mistakes bright spoil for cloud
    cloud_height_m: float

    def cloud_truth(self) -> np.ndarray | None:
        """Boolean mask of truly cloudy pixels (thick or thin cloud, or cirrus), 10 m."""
        mask = None
        if self.alpha is not None:
            mask = self.alpha > CLOUD_TRUTH_ALPHA
        if self.cirrus is not None:
            c = self.cirrus > CIRRUS_TRUTH
            mask = c if mask is None else (mask | c)
        return mask


def make_sky(rng: np.random.Generator, climate: Climate, doy: int, n: int, sun_azimuth: float,
             sun_elevation: float) -> Sky:
    """Draw one date's clouds, shadows, cirrus, haze and swath edge."""
    mean = float(np.clip(seasonal(climate.cloud, doy), 0.02, 0.97))
    k = 2.0
    cover = float(rng.beta(mean * k, (1.0 - mean) * k))
    height = float(rng.uniform(700.0, 2600.0))
    alpha = shadow = None
    if cover > 0.005:
        field = fractal_field(rng, (n, n), 3.1, outer_px=rng.uniform(120, 300))
        thr = float(np.quantile(field[:: max(1, n // 128), :: max(1, n // 128)], 1.0 - cover))
        tau = np.maximum(field - thr, 0.0, dtype=np.float32)
        tau *= np.float32(rng.uniform(2.5, 5.0))
        alpha = (1.0 - np.exp(-tau)).astype(np.float32)
        # Shadow: the cloud field displaced away from the sun (periodic field, so roll is exact).
        dist_px = height / math.tan(math.radians(max(sun_elevation, 15.0))) / 10.0
        away = math.radians(sun_azimuth + 180.0)
        dy, dx = -math.cos(away) * dist_px, math.sin(away) * dist_px
        shadow = np.roll(alpha, (round(dy), round(dx)), axis=(0, 1))
        shadow = np.clip(shadow * 1.15, 0.0, 1.0).astype(np.float32)

    cirrus = None
    if rng.random() < seasonal(climate.cirrus, doy):
        f = max(1, n // 64)
        streaks = smooth_field(rng, (max(n // f, 8), max(n // f, 8)), rng.uniform(2.0, 5.0))
        streaks = upsample(streaks, f)[:n, :n]
        level = rng.uniform(0.008, 0.04)
        cirrus = (np.clip(streaks + rng.uniform(-0.8, 0.3), 0.0, None) * level).astype(np.float32)

    h_mean = seasonal(climate.haze, doy) * rng.uniform(0.4, 1.4)
    f = max(1, n // 32)
    hz = upsample(smooth_field(rng, (max(n // f, 8), max(n // f, 8)), 3.0), f)[:n, :n]
    haze = np.clip(h_mean * (1.0 + 0.35 * hz), 0.0, 1.5).astype(np.float32)

    valid20 = None
    if rng.random() < 0.12:
        m = n // 2
        angle = math.radians(90.0 + rng.uniform(-14.0, -8.0))  # swath edge close to N-S
        yy, xx = np.mgrid[0:m, 0:m].astype(np.float32) + 0.5
        proj = xx * math.cos(angle - math.pi / 2) + yy * math.sin(angle - math.pi / 2)
        cut = float(np.quantile(proj, rng.uniform(0.15, 0.85)))
        keep_left = rng.random() < 0.5
        valid20 = proj < cut if keep_left else proj >= cut
    return Sky(alpha=alpha, shadow=shadow, cirrus=cirrus, haze=haze, valid20=valid20,
               false_cloud_spoil=bool(rng.random() < 0.3), cloud_height_m=height)


def block_mean(a: np.ndarray) -> np.ndarray:
    """2 x 2 block mean of the last two axes (10 m to 20 m)."""
    a = a.astype(np.float32, copy=False)
    out = a[..., 0::2, 0::2] + a[..., 1::2, 0::2]
    out += a[..., 0::2, 1::2]
    out += a[..., 1::2, 1::2]
    out *= np.float32(0.25)
    return out


def scene_classification(
    rng: np.random.Generator,
    sky: Sky,
    *,
    ndvi20: np.ndarray,
    nir20: np.ndarray,
    water20: np.ndarray,
    spoil20: np.ndarray,
    char20: np.ndarray,
) -> np.ndarray:
    """A plausible, imperfect Sen2Cor SCL map on the 20 m grid (uint8)."""
    m = ndvi20.shape[0]
    scl = np.full((m, m), BARE, np.uint8)
    scl[ndvi20 > 0.4] = VEG
    scl[(char20 > 0.4) & (nir20 < 0.11) & (rng.random((m, m)) < 0.6)] = DARK
    scl[water20 > 0.6] = WATER
    border = (np.abs(ndvi20 - 0.4) < 0.03) & (rng.random((m, m)) < 0.25)
    scl[border] = UNCLASSIFIED

    if sky.false_cloud_spoil and spoil20.max() > 0.5:
        patch = smooth_field(rng, (m, m), 2.0)
        bright = spoil20 > 0.5
        scl[bright & (patch > -0.3)] = CLOUD_MED
        scl[bright & (patch > 0.8)] = CLOUD_HIGH

    if sky.shadow is not None:
        sh = block_mean(sky.shadow)
        miss = smooth_field(rng, (m, m), 4.0) > 0.9  # some shadows go unnoticed
        scl[(sh > 0.35) & ~miss] = SHADOW
    if sky.cirrus is not None:
        scl[block_mean(sky.cirrus) > 0.025] = CIRRUS
    if sky.alpha is not None:
        a = block_mean(sky.alpha)
        # Thin cloud edges (alpha below ~0.25) stay labelled as the surface: missed edges.
        scl[a > 0.25] = CLOUD_MED
        scl[a > 0.55] = CLOUD_HIGH
    if sky.valid20 is not None:
        scl[~sky.valid20] = NODATA
    return scl
