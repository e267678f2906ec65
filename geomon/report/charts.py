"""Time-series charts of a run: disturbed area per period, and how well each period was seen.

Each chart is drawn by a ``draw_*`` function onto any axes (the HTML report's figures and the PDF
pages use the same ones); ``*_figure`` wraps it in a figure of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from geomon.report.maps import STATE_STYLE

__all__ = ["area_figure", "draw_area_chart", "draw_quality_chart", "quality_figure"]

CUMULATIVE_COLOUR = "#222222"
CLEAR_COLOUR = "#4363d8"
DEGRADED_COLOUR = "#a00000"


def draw_area_chart(ax: Axes, areas: Sequence[Any]) -> None:
    """Bars of new and dug hectares per period, and a line of cumulative new hectares.

    ``areas`` holds :class:`geomon.vectorize.PeriodArea` (or dicts with the same keys).
    """
    rows = [a if isinstance(a, dict) else vars(a) for a in areas]
    labels = [r["period"] for r in rows]
    x = np.arange(len(rows))
    new = [r["new_ha"] for r in rows]
    active = [r["active_ha"] for r in rows]
    ax.bar(x - 0.2, new, 0.4, color=STATE_STYLE["new"][0], label="new digging (ha)",
           gid="bars-new")
    ax.bar(x + 0.2, active, 0.4, color=STATE_STYLE["active"][0],
           label="dug in the period, new or continued (ha)", gid="bars-active")
    ax.plot(x, [r["cumulative_ha"] for r in rows], color=CUMULATIVE_COLOUR, marker="o",
            linewidth=1.5, label="cumulative new digging (ha)", gid="line-cumulative")
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylabel("hectares (ha)", fontsize=8)
    ax.set_ylim(bottom=0)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title("Ground disturbed by digging", loc="left", fontsize=9)
    ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(0.0, -0.1), frameon=False)
    ax.grid(axis="y", linewidth=0.4, alpha=0.5)
    ax.spines[["top", "right"]].set_visible(False)


def draw_quality_chart(ax: Axes, quality: Sequence[dict[str, Any]]) -> None:
    """Median clear observations per pixel per period (bars; degraded periods in red) and the
    share of the AOI seen clearly enough (line, right axis)."""
    labels = [q["period"] for q in quality]
    x = np.arange(len(quality))
    colours = [DEGRADED_COLOUR if q["degraded"] else CLEAR_COLOUR for q in quality]
    bars = ax.bar(x, [q["median_clear_observations"] for q in quality], 0.6, color=colours,
                  gid="bars-clear")
    for b, q in zip(bars, quality, strict=True):
        ax.annotate(f"{q['acquisitions']} acq.", (b.get_x() + b.get_width() / 2, b.get_height()),
                    xytext=(0, 2), textcoords="offset points", ha="center", fontsize=6)
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylabel("clear observations per pixel (median)", fontsize=7.5)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylim(0, max([q["median_clear_observations"] for q in quality] + [1]) * 1.15)
    ax.spines[["top"]].set_visible(False)
    right = ax.twinx()
    right.plot(x, [100 * q["observed_fraction"] for q in quality], color="#222222", marker="s",
               markersize=4, linewidth=1.2, gid="line-observed")
    right.set_ylim(0, 105)
    right.set_ylabel("area seen clearly enough (%)", fontsize=7.5)
    right.tick_params(axis="y", labelsize=7)
    right.spines[["top"]].set_visible(False)
    ax.set_title("Clear views of the ground", loc="left", fontsize=9)
    ax.legend(handles=[Patch(color=CLEAR_COLOUR, label="median clear observations"),
                       Patch(color=DEGRADED_COLOUR, label="degraded: under 90% of the area seen"),
                       Line2D([], [], color="#222222", marker="s", markersize=4,
                              label="area seen clearly enough (%)")],
              fontsize=6.5, loc="upper left", bbox_to_anchor=(0.0, -0.1), frameon=False)


def area_figure(areas: Sequence[Any]) -> plt.Figure:
    """:func:`draw_area_chart` in a figure of its own."""
    fig, ax = plt.subplots(figsize=(5.2, 3.6), layout="constrained")
    draw_area_chart(ax, areas)
    return fig


def quality_figure(quality: Sequence[dict[str, Any]]) -> plt.Figure:
    """:func:`draw_quality_chart` in a figure of its own."""
    fig, ax = plt.subplots(figsize=(5.2, 3.6), layout="constrained")
    draw_quality_chart(ax, quality)
    return fig
