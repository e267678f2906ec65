"""20 m bands upsampled onto the 10 m grid as GDAL's warp does it, lazily and block by block;
and the native read of a real sample scene equal, pixel for pixel, to odc-stac's warped read."""

from __future__ import annotations

from datetime import date

import dask.array as da
import numpy as np
import pytest
import rasterio.warp
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords
from rasterio.enums import Resampling

from geomon.resample import upsample
from geomon.sources._native import FACTOR, Lattice
from geomon.testing import raise_if_dask_computes

CRS = "EPSG:32629"
X0, Y0 = 600_000.0, 900_000.0  # a 20 m lattice corner


def _coarse(seed: int, shape=(3, 37, 41)) -> np.ndarray:
    """uint16 20 m images with nodata (0) holes, a ragged edge and a fully empty image."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 65535, shape, dtype=np.uint16)
    a[0, 5:9, 7:15] = 0  # a hole
    a[1, :, 30:] = 0  # the item's footprint ends
    a[1, rng.random(shape[1:]) < 0.05] = 0  # scattered nodata
    a[2] = 0  # not seen at all
    return a


def _gdal(coarse: np.ndarray, fine: GeoBox, resampling: Resampling) -> np.ndarray:
    """What odc-stac's warp path gives: rasterio.warp.reproject of each image."""
    out = np.zeros((coarse.shape[0], *fine.shape.yx), coarse.dtype)
    for i, img in enumerate(coarse):
        rasterio.warp.reproject(img, out[i], src_transform=Affine(20, 0, X0, 0, -20, Y0),
                                src_crs=CRS, src_nodata=0, dst_transform=fine.affine,
                                dst_crs=CRS, dst_nodata=0, resampling=resampling)
    return out


@pytest.mark.parametrize("chunks", [(1, 64, 64), (2, 9, 11)])
@pytest.mark.parametrize(("dx", "dy"), [(0, 0), (1, 0), (0, 1), (1, 1)])
@pytest.mark.parametrize("bilinear", [True, False])
def test_upsample_equals_gdal_warp(dx, dy, chunks, bilinear):
    """Grids starting on a 20 m pixel edge or half way, coarse blocks of any size."""
    coarse = _coarse(dx + 2 * dy)
    lattice = Lattice(20.0, X0 % 20, Y0 % 20)
    fine = GeoBox((60, 70), Affine(10, 0, X0 + 20 + 10 * dx, 0, -10, Y0 - 20 - 10 * dy), CRS)
    cover, rows, cols = lattice.cover(fine)
    # the cover lies on the lattice, one coarse pixel beyond the fine grid on every side
    assert cover.affine.a == 20 and (cover.affine.c - X0) % 20 == 0
    assert cover.affine.c <= fine.affine.c - 20 and cover.affine.f >= fine.affine.f + 20
    i0, j0 = round((Y0 - cover.affine.f) / -20), round((cover.affine.c - X0) / 20)
    data = coarse[:, i0:i0 + cover.shape.y, j0:j0 + cover.shape.x]
    assert data.shape[1:] == cover.shape.yx
    arr = xr.DataArray(da.from_array(data, chunks=chunks), dims=("time", "y", "x"))
    with raise_if_dask_computes():
        up = upsample(arr, FACTOR, rows, cols, xr_coords(fine, crs_coord_name="spatial_ref"),
                      bilinear=bilinear, nodata=0, chunks=(32, 32))
    assert up.shape == (3, *fine.shape.yx) and up.data.chunksize[1:] == (32, 32)
    want = _gdal(coarse, fine, Resampling.bilinear if bilinear else Resampling.nearest)
    np.testing.assert_array_equal(up.values, want)
    assert (up.values[2] == 0).all()  # nothing seen, nothing invented


def test_native_read_of_a_sample_scene_equals_the_warped_read(tmp_path, monkeypatch):
    """The sample's 20 m assets the pipeline reads (swir16, swir22, scl) are read natively and
    upsampled; the cube equals odc-stac's warped one, with time chunked by period or not."""
    from geomon.aoi import AOI
    from geomon.config import SourceConfig
    from geomon.sample import generate_scene, scene_footprint
    from geomon.sources import _load_items, make_source

    start, end = date(2024, 1, 1), date(2024, 3, 31)
    scene = generate_scene(tmp_path / "scene", scenario="seguela", seed=5, size=96,
                           start=start, end=end, workers=1)
    geom = scene_footprint(scene.scenario, scene.size).buffer(-0.0003)
    aoi = AOI(id="s", name="s", country="CIV", deposit_type="alluvial", catchment="x",
              notes="", geometry=geom)
    source = make_source(SourceConfig(kind="stac", catalog=scene.catalog, max_cloud_cover=100))
    seen = {}
    real = _load_items.native_lattices

    def spy(*args, **kwargs):
        seen.update(real(*args, **kwargs))
        return seen

    monkeypatch.setattr(_load_items, "native_lattices", spy)
    periods = [(start, date(2024, 1, 31)), (date(2024, 2, 1), end)]
    native = source.load(aoi, start, end, chunk_px=40, periods=periods).data
    assert set(seen) == {"swir16", "swir22", "scl"}
    assert len(native.time) > 2 and native.blue.data.chunks[0] == tuple(
        int(((native.time >= np.datetime64(a)) & (native.time < np.datetime64(b)
                                                   + np.timedelta64(1, "D"))).sum())
        for a, b in periods)
    monkeypatch.setattr(_load_items, "native_lattices", lambda *a, **k: {})
    warped = source.load(aoi, start, end, chunk_px=40).data
    xr.testing.assert_identical(native.compute(), warped.compute())
