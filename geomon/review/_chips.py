"""Image chips of a site cut from the run's composites, and a small locator map per site.

Chips are square windows around the site (the site plus a margin), upsampled with nearest
neighbour so each 10 m pixel stays a visible block, with the site outline burnt in. Before and
after chips of one site share one contrast stretch, so a change in brightness is real.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import rasterio
import rasterio.features
import rasterio.windows
from affine import Affine
from scipy import ndimage
from shapely.geometry.base import BaseGeometry
from shapely.plotting import patch_from_polygon

from geomon.export import read_composite
from geomon.report.maps import true_colour
from geomon.runs import atomic_path

__all__ = ["CHIP_KINDS", "CHIP_PX", "LocatorMaps", "site_chips", "write_png"]

#: Approximate width of a chip image in screen pixels.
CHIP_PX = 192

#: Chip kinds: (name, bands as red/green/blue, what it shows).
CHIP_KINDS = (
    ("tc", ("red", "green", "blue"), "true colour"),
    ("fc", ("swir16", "nir", "red"), "false colour SWIR16/NIR/red"),
)

_OUTLINE = np.array([1.0, 0.9, 0.0])  # yellow: visible on green vegetation and on bare soil


def site_chips(
    geometry: BaseGeometry,
    before: Path | None,
    after: Path,
    *,
    margin_m: float = 60.0,
    min_px: int = 24,
) -> dict[str, np.ndarray | None]:
    """True- and false-colour chips of a site before and after, outline drawn.

    Parameters
    ----------
    geometry
        The site polygon in the composites' CRS.
    before, after
        Composite COGs (``before`` may be None: no earlier imagery).
    margin_m
        Ground shown around the site, at least; more for large sites (a quarter of its size).
    min_px
        Smallest chip side in 10 m pixels.

    Returns
    -------
    dict
        ``before_tc``, ``after_tc``, ``before_fc``, ``after_fc``: (y, x, 3) float images in
        0–1, or None for a missing ``before``.
    """
    with rasterio.open(after) as src:
        window = _window(geometry, src.transform, src.width, src.height, margin_m, min_px)
    bands = {name: read_composite(p, window=window) if p is not None else None
             for name, p in (("before", before), ("after", after))}
    _, transform, _ = bands["after"]
    h, w = int(window.height), int(window.width)
    k = max(1, math.ceil(CHIP_PX / max(h, w)))
    outline = _outline_mask(geometry, transform, (h * k, w * k), k)
    out: dict[str, np.ndarray | None] = {}
    for kind, rgb, _ in CHIP_KINDS:
        after_rgb = np.stack([bands["after"][0][b] for b in rgb])
        if bands["before"] is not None:
            before_rgb = np.stack([bands["before"][0][b] for b in rgb])
            both = true_colour(np.concatenate([before_rgb, after_rgb], axis=2))
            imgs = {"before": both[:, :w], "after": both[:, w:]}
        else:
            imgs = {"before": None, "after": true_colour(after_rgb)}
        for when, img in imgs.items():
            if img is None:
                out[f"{when}_{kind}"] = None
                continue
            big = np.repeat(np.repeat(img, k, axis=0), k, axis=1)
            big[outline] = _OUTLINE
            out[f"{when}_{kind}"] = big
    return out


def _window(geometry: BaseGeometry, transform: Affine, width: int, height: int,
            margin_m: float, min_px: int) -> rasterio.windows.Window:
    minx, miny, maxx, maxy = geometry.bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    size = max(maxx - minx, maxy - miny)
    side = max(size + 2 * max(margin_m, 0.25 * size), min_px * abs(transform.a))
    win = rasterio.windows.from_bounds(cx - side / 2, cy - side / 2, cx + side / 2,
                                       cy + side / 2, transform)
    win = win.round_offsets().round_lengths()
    return win.intersection(rasterio.windows.Window(0, 0, width, height))


def _outline_mask(geometry: BaseGeometry, transform: Affine, shape: tuple[int, int], k: int
                  ) -> np.ndarray:
    fine = transform * Affine.scale(1 / k)
    mask = rasterio.features.rasterize([(geometry.boundary, 1)], out_shape=shape,
                                       transform=fine, all_touched=True, dtype="uint8") > 0
    if k >= 4:
        mask = ndimage.binary_dilation(mask)
    return mask


def write_png(path: Path, image: np.ndarray) -> Path:
    """Write an (y, x, 3) 0–1 image as PNG (atomic)."""
    with atomic_path(path) as tmp:
        plt.imsave(tmp, np.clip(image, 0, 1), format="png")
    return path


class LocatorMaps:
    """One small map per site: the AOI outline, every site, the one in question highlighted.

    The AOI and all sites are drawn once; each :meth:`write` adds the highlight, saves the PNG
    and takes the highlight off again. Use as a context manager (closes the figure).

    Parameters
    ----------
    outline
        The AOI polygon (projected CRS, metres).
    sites
        Every site polygon, same CRS.
    size_in, dpi
        Figure size (inches) and resolution.
    """

    def __init__(self, outline: BaseGeometry, sites: list[BaseGeometry], *,
                 size_in: float = 2.2, dpi: int = 100) -> None:
        self.fig, self.ax = plt.subplots(figsize=(size_in, size_in), dpi=dpi)
        ax = self.ax
        for part in getattr(outline, "geoms", [outline]):
            x, y = part.exterior.xy
            ax.plot(x, y, color="#333333", linewidth=0.8, linestyle="--")
        for geom in sites:
            ax.add_patch(patch_from_polygon(geom, facecolor="#9e9e9e", edgecolor="#616161",
                                            linewidth=0.3))
        minx, miny, maxx, maxy = outline.bounds
        pad = 0.04 * max(maxx - minx, maxy - miny)
        ax.set_xlim(minx - pad, maxx + pad)
        ax.set_ylim(miny - pad, maxy + pad)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_facecolor("#f4f1ea")
        self._radius = 0.05 * max(maxx - minx, maxy - miny)
        self.fig.subplots_adjust(0.02, 0.02, 0.98, 0.98)

    def write(self, path: Path, geometry: BaseGeometry) -> Path:
        """Save the map with ``geometry`` highlighted to ``path`` (PNG, atomic)."""
        patch = patch_from_polygon(geometry, facecolor="#e6194b", edgecolor="#e6194b",
                                   linewidth=0.8)
        self.ax.add_patch(patch)
        pt = geometry.representative_point()
        ring = plt.Circle((pt.x, pt.y), self._radius, fill=False, color="#e6194b",
                          linewidth=1.4)
        self.ax.add_patch(ring)
        try:
            with atomic_path(path) as tmp:
                self.fig.savefig(tmp, format="png")
        finally:
            patch.remove()
            ring.remove()
        return path

    def close(self) -> None:
        plt.close(self.fig)

    def __enter__(self) -> LocatorMaps:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
