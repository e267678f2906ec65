"""Maps of a run: the period's own imagery as backdrop, detections on top. No web tiles."""

from __future__ import annotations

import base64
import io

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from affine import Affine
from matplotlib.patches import Patch

__all__ = ["STATUS_COLOURS", "overview_map", "png_data_uri", "true_colour"]

STATUS_COLOURS = {"active": "#e6194b", "inactive": "#f58231", "revegetating": "#3cb44b"}


def true_colour(rgb: np.ndarray, *, low: float = 2, high: float = 98) -> np.ndarray:
    """(3, y, x) reflectance → (y, x, 3) image in 0–1 with a percentile stretch; NaN → white."""
    img = np.moveaxis(np.asarray(rgb, "float32"), 0, -1)
    finite = np.isfinite(img)
    if not finite.any():
        return np.ones(img.shape, "float32")
    lo, hi = np.nanpercentile(img, [low, high])
    out = np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1)
    out[~finite.all(axis=-1)] = 1.0
    return out


def overview_map(
    rgb: np.ndarray,
    transform: Affine,
    *,
    sites: gpd.GeoDataFrame,
    aoi_outline,
    title: str,
    attribution: str,
) -> plt.Figure:
    """Backdrop + site outlines coloured by status + AOI outline, in the grid's own metres."""
    img = true_colour(rgb)
    h, w = img.shape[:2]
    extent = (transform.c, transform.c + transform.a * w, transform.f + transform.e * h, transform.f)
    fig, ax = plt.subplots(figsize=(7, 7), dpi=110)
    ax.imshow(img, extent=extent, interpolation="nearest")
    for status, colour in STATUS_COLOURS.items():
        part = sites[sites["status"] == status] if len(sites) else sites
        if len(part):
            part.boundary.plot(ax=ax, color=colour, linewidth=1.2)
    gpd.GeoSeries([aoi_outline]).boundary.plot(ax=ax, color="white", linewidth=1.0, linestyle="--")
    ax.legend(
        handles=[Patch(edgecolor=c, facecolor="none", label=f"digging: {s}")
                 for s, c in STATUS_COLOURS.items()],
        loc="lower left", fontsize=7, framealpha=0.8,
    )
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("easting (m)", fontsize=8)
    ax.set_ylabel("northing (m)", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.text(0.01, 0.01, attribution, fontsize=6)
    fig.tight_layout()
    return fig


def png_data_uri(fig: plt.Figure) -> str:
    """The figure as an embedded ``data:image/png;base64,...`` URI (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
