"""From digital numbers to surface reflectance, with each acquisition's own scale and offset.

Sentinel-2 L2A products of processing baseline 04.00 and later (from 25 January 2022) carry a
BOA offset: reflectance = DN × 0.0001 − 0.1; older products have no offset. Providers declare it
differently (Earth Search in ``raster:bands``, STAC 1.1 catalogues in ``bands``, some not at all),
so the value is read from the metadata, and only derived from ``s2:processing_baseline`` when no
field declares it (DESIGN.md section 2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from geomon.sources._base import BANDS, SCL

__all__ = ["DEFAULT_SCALE", "baseline_offset", "declared_scale_offset", "to_reflectance"]

#: DN → reflectance factor of Sentinel-2 L2A.
DEFAULT_SCALE = 1e-4


def baseline_offset(processing_baseline: str | None) -> float:
    """BOA offset implied by a processing baseline such as ``"05.10"`` (0 when unknown).

    >>> baseline_offset("05.10"), baseline_offset("03.01"), baseline_offset(None)
    (-0.1, 0.0, 0.0)
    """
    if not processing_baseline:
        return 0.0
    try:
        return -0.1 if float(processing_baseline) >= 4.0 else 0.0
    except ValueError:
        return 0.0


def declared_scale_offset(asset_fields: Mapping[str, Any], properties: Mapping[str, Any]
                          ) -> tuple[float, float]:
    """Scale and offset of one asset: ``raster:bands``, then STAC 1.1 ``bands``, then baseline.

    Parameters
    ----------
    asset_fields
        The asset's extra fields (``raster:bands``, ``bands``, ``raster:scale`` ...).
    properties
        The item's properties (for ``s2:processing_baseline`` when nothing else declares it).
    """
    rb = (asset_fields.get("raster:bands") or [None])[0]
    if isinstance(rb, Mapping) and ("scale" in rb or "offset" in rb):
        return float(rb.get("scale", DEFAULT_SCALE)), float(rb.get("offset", 0.0))
    b = (asset_fields.get("bands") or [None])[0] or asset_fields
    if isinstance(b, Mapping) and ("raster:scale" in b or "raster:offset" in b):
        return float(b.get("raster:scale", DEFAULT_SCALE)), float(b.get("raster:offset", 0.0))
    return DEFAULT_SCALE, baseline_offset(properties.get("s2:processing_baseline"))


def to_reflectance(raw: xr.Dataset, scale_offset: Mapping[str, Sequence[tuple[float, float]]],
                   *, bands: Sequence[str] = BANDS) -> xr.Dataset:
    """Reflectance bands (float32, DN 0 → NaN) and ``scl`` (uint8, if present) from a DN cube.

    Parameters
    ----------
    raw
        DN cube with the ``bands`` (and ``scl``) on dims (time, y, x).
    scale_offset
        Per band, one ``(scale, offset)`` per time step of ``raw``.
    bands
        The reflectance bands (default :data:`BANDS`).
    """
    out = {}
    for band in bands:
        pairs = scale_offset[band]
        scale = xr.DataArray(np.array([p[0] for p in pairs], "float32"), dims="time")
        offset = xr.DataArray(np.array([p[1] for p in pairs], "float32"), dims="time")
        out[band] = xr.apply_ufunc(_reflectance, raw[band], scale, offset, dask="parallelized",
                                   output_dtypes=[np.float32])
        out[band].attrs = {"units": "reflectance"}
    if SCL in raw:
        out[SCL] = raw[SCL].astype("uint8")
    return xr.Dataset(out, coords=raw.coords, attrs=raw.attrs)


def _reflectance(dn: np.ndarray, scale: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """``dn × scale + offset`` in float32, NaN where ``dn`` is 0; one array, updated in place."""
    out = dn.astype(np.float32)
    out *= scale
    out += offset
    out[dn == 0] = np.nan
    return out
