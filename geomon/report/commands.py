"""Command-line commands of the report package (registered on the ``geomon`` group in cli.py)."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["map_command"]


@click.command("map")
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--site", required=True,
              help="Site id, as in detections.geojson (e.g. seguela-0012).")
@click.option("--period", required=True,
              help='The "after" period\'s label, e.g. 2024Q4; "before" is the period before the '
                   "site was first seen.")
@click.option("--false-colour", "false_colour", is_flag=True,
              help="SWIR 1.6 µm / near infrared / red backdrop (bare ground pink, vegetation "
                   "green) instead of true colour.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder for the maps [default: RUN_DIR/maps].")
def map_command(run_dir: Path, site: str, period: str, false_colour: bool,
                out: Path | None) -> None:
    """Before/after maps of one digging site from a finished run folder.

    Writes a 300 dpi PNG and a PDF (vector outlines): the site and its neighbours over the
    period's Sentinel-2 composite and over the composite before digging began, with scale bar,
    north arrow, lat/lon grid, legend and attribution.

    \b
    Example:
      geomon map outputs/sample/20261128T121500Z-3f2a --site sample-0001 --period 2024Q4
    """
    from geomon.report.site_maps import make_site_map

    for path in make_site_map(run_dir, site=site, period=period, out=out,
                              false_colour=false_colour):
        click.echo(f"wrote {path}")
