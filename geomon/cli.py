"""The ``geomon`` command line.

Every command turns a :class:`geomon.errors.GeomonError` into one readable line on stderr and exit
status 2; no traceback for bad input.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import date, datetime
from pathlib import Path

import click

from geomon.errors import GeomonError

log = logging.getLogger("geomon")

#: Exit status of a run that finished with degraded periods (see docs/operations.md).
EXIT_PARTIAL = 3


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors (for cron).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: one JSON object per line, for schedulers.")
def cli(ctx: click.Context, verbose: int, quiet: bool, log_format: str) -> None:
    """geomon: watch artisanal diamond-mining areas from Sentinel-2.

    \b
    Typical use:
      geomon sample --out data/sample          build the embedded sample imagery
      geomon run pipelines/sample.yaml         run an assessment, write outputs/
      geomon aoi list                          the areas of interest known here
    """
    from geomon.logs import configure_logging

    configure_logging(level=logging.DEBUG if verbose > 1 else logging.INFO, fmt=log_format,
                      quiet=quiet)
    ctx.obj = {"quiet": quiet}


@cli.command()
@click.argument("pipeline", type=click.Path(path_type=Path))
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: when stderr is a terminal).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Dask scheduler to run on, e.g. tcp://10.0.0.5:8786 "
                   "(default: DASK_SCHEDULER_ADDRESS, the pipeline's compute.scheduler, or "
                   "local threads).")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Assess from this date instead of the pipeline's start (YYYY-MM-DD).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Assess up to this date instead of the pipeline's end (YYYY-MM-DD).")
@click.option("--rerun", is_flag=True,
              help="Compute every period again instead of reusing earlier runs' composites.")
@click.pass_context
def run(ctx: click.Context, pipeline: Path, progress: bool | None, scheduler: str | None,
        since: datetime | None, until: datetime | None, rerun: bool) -> None:
    """Run the assessment defined in PIPELINE (a YAML file) and write a new run folder.

    Periods whose composites an earlier run made from the same imagery and settings are reused;
    only new or changed periods are read and computed.

    Exit status: 0 success, 3 partial (some periods degraded by too few clear views or unreadable
    assets), 2 bad input, 1 failure.
    """
    from geomon.pipeline import run_pipeline

    result = run_pipeline(pipeline, progress=sys.stderr.isatty() if progress is None else progress,
                          scheduler=scheduler, since=since.date() if since else None,
                          until=until.date() if until else None, rerun=rerun)
    quiet = ctx.obj["quiet"]  # cron: say nothing on success; the exit status tells
    last = result.areas[-1]
    if not quiet:
        click.echo(f"run complete: {result.run_dir}")
        click.echo(f"  {result.n_sites} digging sites; {last.period}: {last.new_ha:.2f} ha new, "
                   f"{last.active_ha:.2f} ha active")
        click.echo(f"  report:     {result.run_dir / 'report.html'}")
        click.echo(f"  detections: {result.run_dir / 'detections.geojson'}")
    if result.degraded_periods:
        if not quiet:
            click.echo(f"  degraded periods (too few clear observations): "
                       f"{', '.join(result.degraded_periods)}")
        sys.exit(EXIT_PARTIAL)


@cli.command()
@click.option("--scenario", default="seguela", show_default=True,
              help="Landscape and digging history: seguela, marange, tortiya or quiet.")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed.")
@click.option("--size", default=256, show_default=True, type=int, help="Scene width in 10 m px.")
@click.option("--start", default="2024-01-01", show_default=True, help="First date, YYYY-MM-DD.")
@click.option("--end", default="2024-12-31", show_default=True, help="Last date, YYYY-MM-DD.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option("--href-prefix", default=None,
              help="URL prefix for asset hrefs in item_collection.json (to serve over HTTP).")
@click.option("--l1c", is_flag=True, default=False,
              help="Also write each item's Level-1C twin (collection sentinel-2-l1c), for the "
                   "s2cloudless cloud probability (mask.cloud_probability).")
def sample(scenario: str, seed: int, size: int, start: str, end: str, out: Path,
           href_prefix: str | None, l1c: bool) -> None:
    """Generate a simulated Sentinel-2 scene with known truth, in Earth Search layout."""
    from geomon.sample import generate_scene

    scene = generate_scene(out, scenario=scenario, seed=seed, size=size,
                           start=_date(start, "--start"), end=_date(end, "--end"),
                           href_prefix=href_prefix, l1c=l1c)
    click.echo(f"wrote {scene.n_items} items to {scene.root} (catalog: {scene.catalog})")


@cli.group()
def benchmark() -> None:
    """Measure accuracy (and later speed) on generated scenes with known truth."""


@benchmark.command("accuracy")
@click.option("--out", type=click.Path(path_type=Path), default=Path("outputs/benchmark"),
              show_default=True, help="Folder for scenes (cached), runs and results.json.")
@click.option("--scenario", "scenarios", multiple=True,
              default=("seguela", "marange", "tortiya", "quiet"), show_default=True)
@click.option("--seed", "seeds", multiple=True, type=int, default=(101, 102), show_default=True,
              help="Scored seeds (tuning used 1-10).")
@click.option("--method", "methods", multiple=True, default=("rules", "naive"),
              show_default=True)
@click.option("--size", default=256, show_default=True, type=int)
@click.option("--start", default="2023-01-01", show_default=True)
@click.option("--end", default="2024-12-31", show_default=True)
@click.option("--baseline-periods", default=1, show_default=True, type=int,
              help="Quarters from --start used as the baseline, for every method (harmonic "
                   "needs 4).")
def benchmark_accuracy(out: Path, scenarios: tuple[str, ...], seeds: tuple[int, ...],
                       methods: tuple[str, ...], size: int, start: str, end: str,
                       baseline_periods: int) -> None:
    """Run the real pipeline on generated scenes and score it against their truth."""
    from geomon.benchmark import format_table, run_accuracy

    scores = run_accuracy(out, scenarios=scenarios, seeds=seeds, methods=methods, size=size,
                          start=start, end=end, baseline_periods=baseline_periods)
    click.echo(format_table(scores))
    click.echo(f"results: {out / 'results.json'}")


@cli.group()
def aoi() -> None:
    """Areas of interest (aoi/*.geojson)."""


@aoi.command("list")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None)
def aoi_list(directory: Path | None) -> None:
    """List the AOIs with their country, UTM zone and area."""
    from geomon.aoi import list_aois, read_aoi_file

    for path in list_aois(directory):
        a = read_aoi_file(path, max_area_km2=None)
        click.echo(f"{a.id:<12} {a.country}  {a.crs:<11} {a.area_km2:9.1f} km²  {a.name}")


@aoi.command("show")
@click.argument("ref")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None)
def aoi_show(ref: str, directory: Path | None) -> None:
    """Print one AOI (by id or file) as GeoJSON, with its UTM grid and area."""
    from geomon.aoi import load_aoi

    a = load_aoi(ref, directory=directory, max_area_km2=None)
    doc = a.to_feature()
    doc["properties"]["utm_crs"] = a.crs
    doc["properties"]["area_km2"] = round(a.area_km2, 3)
    click.echo(json.dumps(doc, indent=2))


@aoi.command("validate")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def aoi_validate(files: tuple[Path, ...]) -> None:
    """Check AOI files against the contract (all of aoi/ when none are given)."""
    from geomon.aoi import list_aois, read_aoi_file

    paths = list(files) or list_aois()
    bad = 0
    for path in paths:
        try:
            read_aoi_file(path)
            click.echo(f"ok    {path}")
        except GeomonError as exc:
            bad += 1
            click.echo(f"error {exc}", err=True)
    if bad:
        raise SystemExit(2)


@cli.group()
def cache() -> None:
    """The composites kept between runs (OUTPUTS/.cache/composites)."""


@cache.command("prune")
@click.option("--outputs", type=click.Path(path_type=Path, file_okay=False),
              default=Path("outputs"), show_default=True,
              help="The outputs folder a pipeline's 'outputs:' points at.")
@click.option("--older-than", "days", type=click.IntRange(min=0), default=180, show_default=True,
              help="Remove what no run has used for this many days.")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
def cache_prune(outputs: Path, days: int, dry_run: bool) -> None:
    """Remove cached composites no run has used lately, and leftovers of killed runs.

    Settings no pipeline uses any more, and periods whose acquisitions have since changed, are
    never used again; a later run recomputes anything it needs that was removed.
    """
    from datetime import timedelta

    from geomon.cache import prune

    summary = prune(outputs / ".cache" / "composites", older_than=timedelta(days=days),
                    dry_run=dry_run)
    for path in summary.removed:
        click.echo(f"{'would remove' if dry_run else 'removed'} {path}")
    click.echo(f"{len(summary.removed)} folders, {summary.removed_bytes / 1e6:.1f} MB "
               f"{'to free' if dry_run else 'freed'}; {summary.kept_bytes / 1e6:.1f} MB kept")


def _register_commands() -> None:
    """Commands that live next to what they operate on."""
    from geomon.history_commands import compare_command, history_command
    from geomon.report.commands import map_command
    from geomon.review.commands import review

    cli.add_command(history_command)
    cli.add_command(compare_command)
    cli.add_command(map_command)
    cli.add_command(review)


_register_commands()


def _date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise GeomonError(f"bad date {text!r}", field=option, expected="YYYY-MM-DD") from None


def main() -> None:
    """Entry point: run the CLI, turning user errors into one line and exit status 2."""
    try:
        cli.main(standalone_mode=False)
    except GeomonError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception:  # through the logging filter, so no secret reaches the terminal
        log.exception("failed")
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
