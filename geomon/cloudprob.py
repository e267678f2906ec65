"""Cloud probability from Sentinel-2 Level-1C bands with s2cloudless, lazily on dask.

s2cloudless (Sentinel Hub's pixel-based LightGBM cloud detector) reads ten top-of-atmosphere
reflectances, B01 B02 B04 B05 B08 B8A B09 B10 B11 B12 (``S2PixelCloudDetector(all_bands=False)``),
DN / 10000 harmonised for processing baseline ≥ 04.00 (the −0.1 offset applied). B10 exists only
in L1C, so the STAC sources pair each L2A item with its L1C twin (:mod:`geomon.sources._l1c`).

The model runs at :data:`MODEL_RES_M` = 60 m, the native grid of B01, B09 and B10: every band is
read onto a 60 m grid aligned with the AOI's 10 m grid (bilinear), the probability is computed
there and repeated onto the 10 m pixels. The model is pixel-based (no spatial context), and
Sentinel Hub runs the same model at 160 m for its precomputed ``CLP`` band; Earth Engine's
``COPERNICUS/S2_CLOUD_PROBABILITY`` runs it at 10 m instead. 60 m costs 1/36 of 10 m; on the
sample scenes it catches more of the true cloud than 10 m (soft edges are averaged in) at the cost
of more false alarms next to clouds and on bright spoil, which :func:`geomon.mask.clear_sky`
guards as it guards SCL (docs/sources.md has the figures).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import xarray as xr

from geomon.errors import GeomonError

__all__ = [
    "CLOUD_PROB",
    "EXTRA",
    "MODEL_BANDS",
    "MODEL_RES_M",
    "cloud_probability",
    "require_s2cloudless",
    "upsample",
]

#: The model's ten L1C bands, in the order it expects them.
MODEL_BANDS: tuple[str, ...] = ("B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11",
                                "B12")
#: Resolution the model runs at, metres.
MODEL_RES_M = 60
#: Name of the cloud-probability variable (0-1, float32, NaN where unknown) in a cube.
CLOUD_PROB = "cloud_prob"
#: The pip extra that installs the model.
EXTRA = "geomon[cloudprob]"


def require_s2cloudless(field: str = "mask.cloud_probability") -> None:
    """Raise a readable error naming ``field`` and the pip extra when s2cloudless is missing."""
    try:
        import s2cloudless  # noqa: F401
    except ImportError as exc:
        raise GeomonError(
            f"the s2cloudless model is not installed ({exc.msg}); install it with: "
            f"pip install '{EXTRA}'",
            field=field, expected="s2cloudless installed, or no cloud_probability",
        ) from None


@functools.cache
def _detector() -> Any:
    from s2cloudless import S2PixelCloudDetector

    return S2PixelCloudDetector(all_bands=False)


def predict(toa: np.ndarray) -> np.ndarray:
    """Cloud probability of a ``(..., y, x, 10)`` stack of TOA reflectance (NaN where unknown).

    One LightGBM thread: dask runs blocks in parallel already.
    """
    lead = toa.shape[:-1]
    flat = toa.reshape(-1, *toa.shape[-3:]) if toa.ndim > 3 else toa[None]
    missing = np.isnan(flat).any(axis=-1)
    prob = _detector().get_cloud_probability_maps(np.nan_to_num(flat, nan=0.0), num_threads=1)
    prob = np.where(missing, np.float32(np.nan), prob.astype(np.float32))
    return prob.reshape(lead)


def cloud_probability(toa: xr.Dataset) -> xr.DataArray:
    """Lazy s2cloudless probability (time, y, x) of a cube of the :data:`MODEL_BANDS`.

    Parameters
    ----------
    toa
        TOA reflectance (float32, NaN = nodata), one variable per band named as in
        :data:`MODEL_BANDS`, on dims (time, y, x), dask-backed.
    """
    stack = xr.concat([toa[b] for b in MODEL_BANDS], dim="band").chunk(band=-1)
    prob = xr.apply_ufunc(predict, stack, input_core_dims=[["band"]], dask="parallelized",
                          output_dtypes=[np.float32])
    return prob.rename(CLOUD_PROB).assign_attrs(units="1", model="s2cloudless",
                                                resolution_m=MODEL_RES_M)


def _repeat(block: np.ndarray, factor: int) -> np.ndarray:
    return np.repeat(np.repeat(block, factor, axis=-2), factor, axis=-1)


def upsample(prob: xr.DataArray, factor: int, rows: slice, cols: slice,
             coords: dict[str, Any]) -> xr.DataArray:
    """Repeat each coarse pixel ``factor`` x ``factor`` times, then cut ``rows``, ``cols``. Lazy.

    Parameters
    ----------
    prob
        (time, y, x) on a grid ``factor`` times coarser than the target and aligned with it.
    factor
        Ratio of the resolutions.
    rows, cols
        Window of the repeated grid that is the target grid (in target pixels).
    coords
        The target's ``y``, ``x`` (and ``spatial_ref``) coordinates.
    """
    data = prob.data
    chunks = (data.chunks[0], *(tuple(c * factor for c in ch) for ch in data.chunks[1:]))
    data = data.map_blocks(_repeat, factor, chunks=chunks, dtype=data.dtype)[:, rows, cols]
    return xr.DataArray(data, dims=("time", "y", "x"),
                        coords={"time": prob.time, **coords}, name=prob.name, attrs=prob.attrs)
