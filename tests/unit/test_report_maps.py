"""Maps: every element a map must carry is there, checked on the matplotlib artists."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from matplotlib.collections import LineCollection
from matplotlib.text import Annotation
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar
from PIL import Image
from pyproj import Transformer
from shapely.geometry import MultiPolygon, box

from geomon.report.cartography import (
    _label,
    graticule_step,
    nice_length,
    true_north_angle,
)
from geomon.report.maps import (
    STATE_STYLE,
    MapLayers,
    attribution_for,
    make_backdrop,
    pair_figure,
    period_figure,
    save_figure,
    site_extent,
    true_colour,
)
from geomon.report.site_maps import RunPeriod, pair_periods

CRS = "EPSG:32629"  # Séguéla, 6.7° W: east of zone 29's central meridian (9° W)
X0, Y0, PX = 752_000.0, 886_000.0, 10.0
TRANSFORM = Affine(PX, 0, X0, 0, -PX, Y0)
N = 120  # 1.2 km


def _rgb(seed: int = 0, nan_block: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rgb = rng.uniform(0.03, 0.15, (3, N, N)).astype("float32")
    rgb[:, 20:30, 20:40] = 0.3  # bright spoil
    if nan_block:
        rgb[:, 90:110, 90:110] = np.nan
    return rgb


def _sites() -> gpd.GeoDataFrame:
    def cell(c0, r0, c1, r1):
        return box(X0 + c0 * PX, Y0 - r1 * PX, X0 + c1 * PX, Y0 - r0 * PX)

    rows = [
        ("t-0001", 2.0, "new", cell(20, 20, 40, 30)),
        ("t-0002", 0.5, "active", MultiPolygon([cell(60, 60, 65, 65), cell(70, 60, 75, 65)])),
        ("t-0003", 0.25, "inactive", cell(10, 80, 15, 85)),
        ("t-0004", 0.3, "later", cell(80, 20, 85, 26)),
    ]
    return gpd.GeoDataFrame([{"id": i, "area_ha": a, "map_state": s} for i, a, s, _ in rows],
                            geometry=[g for *_, g in rows], crs=CRS)


def _aoi():
    return box(X0 + 5 * PX, Y0 - 115 * PX, X0 + 115 * PX, Y0 - 5 * PX)


def _lookalikes() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"class": ["fire_scar"]},
                            geometry=[box(X0 + 300, Y0 - 900, X0 + 500, Y0 - 800)], crs=CRS)


@pytest.fixture(scope="module")
def period_map():
    backdrop = make_backdrop(_rgb(nan_block=True), TRANSFORM, CRS, "2024Q4")
    layers = MapLayers(sites=_sites(), aoi=_aoi(), lookalikes=_lookalikes())
    fig = period_figure(backdrop, layers, title="Test area: digging in 2024Q4",
                        attribution=attribution_for([2024]))
    fig.canvas.draw()
    yield fig
    import matplotlib.pyplot as plt

    plt.close(fig)


def _by_gid(ax, gid):
    return [a for a in ax.findobj() if a.get_gid() == gid]


def test_map_has_title_with_period_and_backdrop(period_map):
    (ax,) = period_map.axes
    title = ax.get_title(loc="left")
    assert "digging in 2024Q4" in title
    assert "Backdrop: Sentinel-2 2024Q4 median composite, true colour" in title


def test_map_legend_names_every_state_shown_and_the_aoi(period_map):
    (legend,) = period_map.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert f"{STATE_STYLE['new'][1]} (1)" in labels
    assert f"{STATE_STYLE['active'][1]} (1)" in labels
    assert f"{STATE_STYLE['inactive'][1]} (1)" in labels
    assert "area of interest" in labels
    assert any(lb.startswith("look-alike") for lb in labels)
    assert "no clear view in this period" in labels  # the NaN block
    assert not any(lb.startswith(STATE_STYLE["later"][1]) for lb in labels)  # hidden by default


def test_map_outlines_each_site_by_state(period_map):
    (ax,) = period_map.axes
    (new,) = _by_gid(ax, "sites-new")
    (active,) = _by_gid(ax, "sites-active")
    assert isinstance(new, LineCollection)
    assert len(new.get_segments()) == 1
    assert len(active.get_segments()) == 2  # a two-part site: both parts outlined
    assert new.get_colors()[0][:3] == pytest.approx([230 / 255, 25 / 255, 75 / 255])
    assert not _by_gid(ax, "sites-later")
    assert _by_gid(ax, "aoi-outline")
    labels = {t.get_text() for t in _by_gid(ax, "site-label")}
    assert labels == {"0001", "0002", "0003"}


def test_map_scale_bar_is_a_round_length_in_metres(period_map):
    (ax,) = period_map.axes
    (bar,) = [a for a in ax.artists if isinstance(a, AnchoredSizeBar)]
    assert bar.get_gid() == "scale-bar"
    width = abs(np.subtract(*ax.get_xlim()))
    assert 0.1 * width <= bar.length_m <= 0.25 * width
    texts = [t.get_text() for t in bar.findobj() if hasattr(t, "get_text")]
    assert f"{bar.length_m:g} m" in texts


def test_map_north_arrow_points_to_true_north(period_map):
    (ax,) = period_map.axes
    (arrow,) = _by_gid(ax, "north-arrow")
    assert isinstance(arrow, Annotation)
    (label,) = _by_gid(ax, "north-arrow-label")
    assert label.get_text() == "N"
    # tail offset (points) is opposite the direction of true north
    dx, dy = arrow.xyann
    angle = math.degrees(math.atan2(-dx, -dy))
    centre = (np.mean(ax.get_xlim()), np.mean(ax.get_ylim()))
    assert angle == pytest.approx(true_north_angle(CRS, *centre), abs=1e-6)


def test_true_north_angle_matches_grid_convergence():
    fwd = Transformer.from_crs(4326, CRS, always_xy=True)
    for lon, lat in [(-6.7, 8.0), (-11.0, 8.0), (-9.0, 8.0)]:
        gamma = math.degrees(math.atan(math.tan(math.radians(lon + 9.0))
                                       * math.sin(math.radians(lat))))
        # east of the central meridian true north lies anticlockwise of grid north
        assert true_north_angle(CRS, *fwd.transform(lon, lat)) == pytest.approx(-gamma,
                                                                                abs=0.01)


def test_map_graticule_lines_are_constant_lon_lat(period_map):
    (ax,) = period_map.axes
    lines = _by_gid(ax, "graticule")
    assert len(lines) >= 2
    inv = Transformer.from_crs(CRS, 4326, always_xy=True)
    meridians = parallels = 0
    for line in lines:
        lon, lat = inv.transform(*line.get_data())
        if np.ptp(lon) < 1e-7:
            meridians += 1
        elif np.ptp(lat) < 1e-7:
            parallels += 1
        else:
            raise AssertionError("a graticule line is neither a meridian nor a parallel")
    assert meridians >= 1 and parallels >= 1
    xlabels = [t.get_text() for t in ax.get_xticklabels()]
    ylabels = [t.get_text() for t in ax.get_yticklabels()]
    assert xlabels and all(lb.endswith("°W") for lb in xlabels)
    assert ylabels and all(lb.endswith("°N") for lb in ylabels)


def test_map_attribution(period_map):
    (ax,) = period_map.axes
    (text,) = _by_gid(ax, "attribution")
    assert text.get_text() == "Contains modified Copernicus Sentinel data 2024"
    assert attribution_for([2023, 2024, 2024]) == "Contains modified Copernicus Sentinel data " \
                                                  "2023–2024"


def test_save_figure_writes_300_dpi_png_and_pdf(period_map, tmp_path):
    w_in, h_in = period_map.get_size_inches()
    png, pdf = save_figure(period_map, tmp_path / "maps" / "2024Q4", close=False)
    assert png.name == "2024Q4.png" and pdf.name == "2024Q4.pdf"
    with Image.open(png) as im:
        assert im.size == (round(w_in * 300), round(h_in * 300))
        assert im.info["dpi"][0] == pytest.approx(300, abs=1)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert not [p for p in (tmp_path / "maps").iterdir() if p.name.startswith(".")]


def test_pair_figure_panels_share_extent_and_carry_every_element():
    sites = _sites()
    rgb_before, rgb_after = _rgb(1), _rgb(2)
    extent = site_extent(sites.geometry[0], within=(X0, X0 + N * PX, Y0 - N * PX, Y0))
    panels = []
    for label, rgb in (("2024Q1", rgb_before), ("2024Q4", rgb_after)):
        panels.append((make_backdrop(rgb, TRANSFORM, CRS, label),
                       MapLayers(sites=sites, aoi=_aoi(), hidden_states=()), f"panel {label}"))
    fig = pair_figure(panels, title="Site t-0001", attribution="Contains modified Copernicus "
                      "Sentinel data 2024", extent=extent)
    fig.canvas.draw()
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert (ax.get_xlim(), ax.get_ylim()) == ((extent[0], extent[1]), (extent[2], extent[3]))
        for gid in ("graticule", "north-arrow", "attribution", "aoi-outline", "sites-later"):
            assert _by_gid(ax, gid), gid
        assert any(isinstance(a, AnchoredSizeBar) for a in ax.artists)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert STATE_STYLE["later"][1] in labels


def test_site_extent_is_square_and_shifted_inside_the_grid():
    site = box(X0, Y0 - 100, X0 + 50, Y0)  # in the grid's top-left corner
    left, right, bottom, top = site_extent(site, within=(X0, X0 + 1200, Y0 - 1200, Y0))
    assert right - left == pytest.approx(top - bottom) == pytest.approx(500)
    assert left == pytest.approx(X0) and top == pytest.approx(Y0)


def test_backdrop_nan_is_transparent_and_true_colour_keeps_its_contract():
    rgb = _rgb(nan_block=True)
    b = make_backdrop(rgb, TRANSFORM, CRS, "p")
    assert b.rgba.dtype == np.uint8 and b.rgba.shape == (N, N, 4)
    assert (b.rgba[95, 95, 3] == 0) and (b.rgba[5, 5, 3] == 255)
    assert b.extent == (X0, X0 + N * PX, Y0 - N * PX, Y0)
    tc = true_colour(rgb)  # used by geomon.review: (y, x, 3) floats, NaN white
    assert tc.shape == (N, N, 3) and tc.max() <= 1 and (tc[95, 95] == 1).all()


def test_large_backdrops_are_thinned():
    big = np.zeros((3, 7000, 10), "float32")
    b = make_backdrop(big, TRANSFORM, CRS, "p")
    assert b.rgba.shape[0] <= 3000
    step = b.transform.a / PX
    assert step == 3
    # same ground, coarser pixels: the bottom edge moves by less than one thinned pixel
    assert abs(b.extent[2] - (Y0 - 7000 * PX)) < step * PX


@pytest.mark.parametrize(("span", "step"), [(0.011, 0.005), (0.004, 0.001), (0.3, 0.1),
                                            (2.5, 1.0)])
def test_graticule_step(span, step):
    assert graticule_step(span) == step


def test_labels_and_lengths():
    assert _label(-6.7, 0.005, "E", "W") == "6.700°W"
    assert _label(8.0025, 0.0025, "N", "S") == "8.0025°N"
    assert _label(-19.5, 0.5, "N", "S") == "19.5°S"
    assert nice_length(300) == 200 and nice_length(999) == 500 and nice_length(1000) == 1000


def test_pair_periods_before_is_the_period_before_first_digging():
    periods = [RunPeriod("Q1", "2024-01-01", "2024-03-31", False),
               RunPeriod("Q2", "2024-04-01", "2024-06-30", True),
               RunPeriod("Q3", "2024-07-01", "2024-09-30", True),
               RunPeriod("Q4", "2024-10-01", "2024-12-31", True)]
    before, after = pair_periods(periods, "2024-07-01", "Q4")
    assert (before.label, after.label) == ("Q2", "Q4")
    before, after = pair_periods(periods, "2024-04-01", "Q4")
    assert before.label == "Q1"  # the baseline
    before, after = pair_periods(periods, "2024-10-01", "Q2")  # asked before it was dug
    assert (before.label, after.label) == ("Q1", "Q2")
    assert pair_periods(periods, "2024-01-01", "Q1")[0] is None
    from geomon.errors import GeomonError

    with pytest.raises(GeomonError, match="unknown period 'Q9'"):
        pair_periods(periods, "2024-04-01", "Q9")
