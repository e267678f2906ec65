"""``geomon review``: export a review package, serve the review app, import decisions, and
write the field-visit list.

The store defaults to ``<outputs>/review.sqlite`` next to the run's pipeline folder
(``RUN_DIR/../../review.sqlite``), or ``outputs/review.sqlite`` in the current folder for
``import``; ``--store`` or ``GEOMON_REVIEW_STORE`` choose another.
"""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["review"]

_STORE_HELP = ("Review store (SQLite). Default: review.sqlite in the outputs folder of the run "
               "(RUN_DIR/../../review.sqlite).")


def _store_option(help_text: str = _STORE_HELP):
    return click.option("--store", type=click.Path(dir_okay=False, path_type=Path),
                        envvar="GEOMON_REVIEW_STORE", default=None, help=help_text)


@click.group()
def review() -> None:
    """Review detected sites: confirm, reject or send for a field visit.

    \b
    Typical use:
      geomon review export outputs/sample/RUN        package + offline page for reviewers
      geomon review serve outputs/sample/RUN         review in the browser, saved as you go
      geomon review import sites.gpkg --reviewer me  decisions edited in QGIS (or page JSON)
      geomon review fieldlist --run outputs/sample/RUN --out visits/
    """


@review.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Package folder (default: <outputs>/review/<run id>; replaced if present).")
@_store_option()
def export_cmd(run_dir: Path, out: Path | None, store: Path | None) -> None:
    """Write the review package of RUN_DIR: sites.gpkg/.geojson, chips, offline page."""
    from geomon.review._package import export_package

    pkg = export_package(run_dir, out=out, store=store)
    click.echo(f"review package of {pkg.n_sites} sites: {pkg.root}")
    click.echo(f"  page:  {pkg.page}  (open it in a browser; works offline)")
    click.echo(f"  QGIS:  {pkg.gpkg}  (edit review_status, reviewer, note; then "
               f"geomon review import)")
    click.echo(f"  store: {pkg.store}")


@review.command("serve")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Package folder (default: <outputs>/review/<run id>).")
@click.option("--rebuild", is_flag=True, help="Export the package again even if it is current.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
@_store_option()
def serve_cmd(run_dir: Path, port: int, out: Path | None, rebuild: bool, open_browser: bool,
              store: Path | None) -> None:
    """Serve the review page of RUN_DIR on 127.0.0.1, saving each decision as it is made."""
    from geomon.review._app import serve_run

    def ready(server) -> None:
        click.echo(f"reviewing {server.package.aoi_id} run {server.package.run_id} at "
                   f"{server.url}", )
        click.echo(f"  decisions go to {server.store.path}; Ctrl-C to stop")
        if open_browser:
            import webbrowser

            webbrowser.open(server.url)

    serve_run(run_dir, store=store, out=out, port=port, rebuild=rebuild, on_ready=ready)


@review.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--reviewer", default=None,
              help="Who made the changes, for rows whose reviewer was left as exported.")
@click.option("--aoi", default=None, help="Refuse a file for any other AOI.")
@_store_option("Review store (SQLite). Default: outputs/review.sqlite in the current folder.")
def import_cmd(file: Path, reviewer: str | None, aoi: str | None, store: Path | None) -> None:
    """Record decisions from FILE: an edited sites.gpkg or the page's JSON export.

    The whole file is checked first; a file with any bad row changes nothing.
    """
    from geomon.review._import import import_decisions

    result = import_decisions(file, store=store or Path("outputs") / "review.sqlite",
                              reviewer=reviewer, aoi=aoi)
    click.echo(f"{result.path}: {result.recorded} decisions recorded, {result.unchanged} "
               f"unchanged ({result.rows} rows, AOI {result.aoi_id})")


@review.command("fieldlist")
@click.option("--run", "run_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path), help="The run folder.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for fieldlist.csv and fieldlist.gpx.")
@click.option("--pending", "max_pending", default=20, show_default=True,
              type=click.IntRange(0), help="How many unreviewed sites to add, most uncertain "
              "ground (area × (1 − confidence)) first.")
@_store_option()
def fieldlist_cmd(run_dir: Path, out: Path, max_pending: int, store: Path | None) -> None:
    """Sites to visit on the ground, as CSV and GPX waypoints, ordered by area × uncertainty."""
    from geomon.review._fieldvisit import field_list

    result = field_list(run_dir, out=out, store=store, max_pending=max_pending)
    click.echo(f"{result.n_sites} sites to visit: {result.csv}, {result.gpx}")


if __name__ == "__main__":  # pragma: no cover - `python -m geomon.review.commands ...`
    review()
