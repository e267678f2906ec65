"""Deterministic random streams and smooth random fields (spectral synthesis with FFTs)."""

from __future__ import annotations

import zlib

import numpy as np
from scipy import fft, ndimage

__all__ = ["blob", "fractal_field", "rng_for", "smooth_field", "upsample"]


def rng_for(seed: int, *keys: str | int) -> np.random.Generator:
    """An independent random generator for one named part of a scene.

    The stream depends only on ``seed`` and ``keys`` (strings are hashed with CRC-32), so the same
    part of the same scene draws the same numbers whichever process or order it is computed in.
    """
    words = [int(seed) & 0xFFFFFFFF, (int(seed) >> 32) & 0xFFFFFFFF]
    for key in keys:
        words.append(zlib.crc32(key.encode()) if isinstance(key, str) else int(key) & 0xFFFFFFFF)
    return np.random.default_rng(np.random.SeedSequence(words))


def _spectral(rng: np.random.Generator, shape: tuple[int, int], amplitude) -> np.ndarray:
    """Filter white noise in Fourier space by ``amplitude(k)`` (k in cycles per pixel)."""
    white = rng.standard_normal(shape, dtype=np.float32)
    spec = fft.rfft2(white, workers=1)
    ky = fft.fftfreq(shape[0]).astype(np.float32)[:, None]
    kx = fft.rfftfreq(shape[1]).astype(np.float32)[None, :]
    spec *= amplitude(np.sqrt(kx * kx + ky * ky))
    out = fft.irfft2(spec, s=shape, workers=1).astype(np.float32, copy=False)
    out -= out.mean()
    std = float(out.std())
    if std > 0:
        out /= std
    return out


def fractal_field(
    rng: np.random.Generator, shape: tuple[int, int], beta: float, *, outer_px: float | None = None
) -> np.ndarray:
    """A zero-mean, unit-variance field with power spectrum ``k**-beta`` (periodic edges).

    ``beta`` near 2 is rough, near 4 smooth. ``outer_px`` flattens the spectrum at scales larger
    than that many pixels, so one feature does not fill the whole scene.
    """
    k0 = 1.0 / outer_px if outer_px else 1.0 / max(shape)

    def amp(k: np.ndarray) -> np.ndarray:
        return np.power(k * k + k0 * k0, -beta / 4.0, dtype=np.float32)

    return _spectral(rng, shape, amp)


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> np.ndarray:
    """A zero-mean, unit-variance Gaussian-correlated field with correlation length ``sigma_px``."""
    if sigma_px < 3:
        white = rng.standard_normal(shape, dtype=np.float32)
        out = ndimage.gaussian_filter(white, sigma_px, mode="wrap") if sigma_px > 0 else white
        out -= out.mean()
        return out / max(float(out.std()), 1e-12)
    s = np.float32(2.0 * np.pi * sigma_px)

    def amp(k: np.ndarray) -> np.ndarray:
        return np.exp(-0.5 * (k * s) ** 2)

    return _spectral(rng, shape, amp)


def upsample(field: np.ndarray, factor: int) -> np.ndarray:
    """Bilinear upsampling by an integer factor (for smooth, large-scale fields)."""
    if factor == 1:
        return field
    return ndimage.zoom(field, factor, order=1, mode="grid-wrap", grid_mode=True).astype(np.float32)


def blob(
    rng: np.random.Generator,
    shape: tuple[int, int],
    centre: tuple[float, float],
    radius_px: float,
    *,
    roughness: float = 0.35,
) -> np.ndarray:
    """A boolean irregular blob (a disc with a noisy edge) of about ``radius_px`` around ``centre``.

    Only a window around the centre is computed, so it is cheap for small blobs in large scenes.
    """
    h, w = shape
    r = int(np.ceil(radius_px * (1.0 + 2.0 * roughness))) + 2
    cy, cx = centre
    y0, y1 = max(0, int(cy) - r), min(h, int(cy) + r + 1)
    x0, x1 = max(0, int(cx) - r), min(w, int(cx) + r + 1)
    out = np.zeros(shape, bool)
    if y1 <= y0 or x1 <= x0:
        return out
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dist = np.hypot(yy - cy, xx - cx) / max(radius_px, 0.5)
    noise = smooth_field(rng, (y1 - y0, x1 - x0), max(1.0, radius_px / 3.0))
    out[y0:y1, x0:x1] = dist + roughness * noise < 1.0
    return out
