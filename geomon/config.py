"""Pipeline files: the typed schema, loading, and errors that name the file, key and value.

A pipeline file (``pipelines/*.yaml``) defines one assessment::

    name: seguela-quarterly
    aoi: seguela
    start: 2024-04-01
    end: 2024-12-31        # or "latest": the end of the last complete period (for cron)
    period: quarter
    source:
      kind: stac
      url: https://earth-search.aws.element84.com/v1
      collection: sentinel-2-l2a

Relative paths in the file are resolved against the file's own folder.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from geomon.errors import GeomonError

__all__ = [
    "Period",
    "Pipeline",
    "check_cloud_probability",
    "latest_complete_end",
    "load_pipeline",
    "make_periods",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: Source-config keys that only one ``kind`` accepts (the rest apply to every kind).
SOURCE_KIND_KEYS: dict[str, frozenset[str]] = {
    "stac": frozenset({"provider", "url", "catalog", "assets", "sign"}),
    "sentinelhub": frozenset({"provider", "sh_base_url", "sh_token_url", "profile",
                              "max_request_px", "cache_dir", "mosaicking_order"}),
    "local": frozenset({"folder"}),
}


class SourceConfig(_Strict):
    """Where imagery comes from, and how hard to try when the network misbehaves.

    ``kind`` selects the source (see ``docs/sources.md``):

    - ``stac``: a STAC API (``url``, or a ``provider`` preset: ``earth-search``,
      ``planetary-computer``, ``cdse``), or a static catalog / ItemCollection (``catalog``: a file
      path; or ``url`` of a static JSON document).
    - ``sentinelhub``: Sentinel Hub Catalog + Process APIs (``provider: cdse`` or
      ``sentinel-hub``, or explicit ``sh_base_url``/``sh_token_url``). Credentials come from
      ``SH_CLIENT_ID``/``SH_CLIENT_SECRET`` or a sentinelhub ``profile``, never from this file.
    - ``local``: a ``folder`` of GeoTIFF/COG files named ``<YYYYMMDD>[_<scene>]_<band>.tif`` or
      listed in an ``index.csv`` next to them.

    Keys of another kind are refused, so a typo cannot silently fall back to a default.
    """

    kind: Literal["stac", "sentinelhub", "local"] = "stac"
    provider: (
        Literal["earth-search", "planetary-computer", "cdse", "sentinel-hub"] | None
    ) = Field(None, description="preset endpoint, collection and asset names")
    url: str | None = Field(None, description="STAC API root URL, or URL of a static STAC file")
    catalog: Path | None = Field(None, description="static catalog.json or ItemCollection file")
    collection: str | None = Field(None, description="collection id (default: the preset's)")
    assets: dict[str, str] = Field(
        default_factory=dict, description="our band name -> the provider's asset key"
    )
    sign: Literal["planetary-computer"] | None = Field(
        None, description="sign asset URLs before reading (default: the preset's)"
    )
    max_cloud_cover: float = Field(80.0, ge=0, le=100, description="eo:cloud_cover filter, %")
    max_items: int = Field(5000, gt=0, description="stop a search after this many items")
    retries: int = Field(4, ge=0, le=20, description="retries after 429/5xx/timeouts")
    backoff_s: float = Field(1.0, ge=0, le=120, description="first retry delay, doubled after")
    timeout_s: float = Field(60.0, gt=0, le=3600, description="per-request timeout, s")
    sh_base_url: str | None = Field(None, description="Sentinel Hub services root URL")
    sh_token_url: str | None = Field(None, description="OAuth token endpoint")
    profile: str | None = Field(None, description="sentinelhub config profile with credentials")
    max_request_px: int = Field(2500, ge=16, le=2500, description="largest request side, px")
    cache_dir: Path | None = Field(None, description="Process API response cache folder")
    mosaicking_order: Literal["leastCC", "mostRecent", "leastRecent"] = "leastCC"
    folder: Path | None = Field(None, description="folder of GeoTIFF/COG files")

    @model_validator(mode="after")
    def _consistent(self) -> SourceConfig:
        foreign = sorted(
            key for kind, keys in SOURCE_KIND_KEYS.items() if kind != self.kind
            for key in keys - SOURCE_KIND_KEYS[self.kind] if key in self.model_fields_set
        )
        if foreign:
            raise ValueError(f"key {foreign[0]!r} does not apply to source kind {self.kind!r}")
        if self.kind == "stac":
            if self.provider == "sentinel-hub":
                raise ValueError("provider 'sentinel-hub' needs kind: sentinelhub")
            if self.catalog is not None and (self.url is not None or self.provider is not None):
                raise ValueError("give either 'catalog' (a file) or 'url'/'provider', not both")
            if self.catalog is None and self.url is None and self.provider is None:
                raise ValueError("give exactly one of 'url' (a STAC API), 'provider' (a preset) "
                                 "or 'catalog' (a file)")
        elif self.kind == "sentinelhub":
            if self.provider in ("earth-search", "planetary-computer"):
                raise ValueError(f"provider {self.provider!r} needs kind: stac")
            if self.provider is None and self.sh_base_url is None:
                raise ValueError("give 'provider' (cdse or sentinel-hub) or 'sh_base_url'")
        elif self.folder is None:
            raise ValueError("source kind 'local' needs 'folder'")
        return self

    def resolved(self, base: Path) -> SourceConfig:
        """The same config with relative paths (catalog, folder, cache_dir) made absolute."""

        def rel(p: Path | None) -> Path | None:
            return None if p is None else (p if p.is_absolute() else (base / p).resolve())

        return self.model_copy(update={
            "catalog": rel(self.catalog), "folder": rel(self.folder),
            "cache_dir": rel(self.cache_dir),
        })


class MaskConfig(_Strict):
    """Clear-sky masking from the SCL band, optionally with a cloud-probability model."""

    cloud_buffer_px: int = Field(1, ge=0, le=10, description="dilate cloud/shadow by N 20 m px")
    keep_bright_ground: bool = Field(
        True, description="keep SCL 'cloud' pixels whose spectrum is bare ground, not cloud"
    )
    cloud_probability: Literal["s2cloudless"] | None = Field(
        None, description="also mask pixels a cloud-probability model calls cloud: s2cloudless "
        "(Sentinel Hub's precomputed CLP band, or the model run on Level-1C twins of STAC items)"
    )
    cloud_probability_threshold: float = Field(
        0.4, gt=0, lt=1, description="probability at or above which a pixel is cloud"
    )


class DetectionConfig(_Strict):
    """Change detection options (see geomon.detect)."""

    method: Literal["rules", "harmonic", "naive"] = Field(
        "rules", description="rules: spoil frequency vs look-alikes; harmonic: breaks from each "
        "pixel's seasonal NDVI model (needs a year of baseline); naive: any NDVI drop"
    )
    min_mapping_unit_ha: float = Field(0.1, gt=0, description="smallest polygon kept, ha")
    min_old_site_ha: float = Field(
        0.3, ge=0, description="smallest site kept among digging older than the assessment, ha"
    )
    min_clear_observations: int = Field(
        2, ge=1, description="fewer clear observations than this marks a pixel/period unobserved"
    )
    ndvi_bare: float = Field(0.3, description="NDVI below this counts as bare")
    ndvi_drop: float = Field(0.15, gt=0, description="least NDVI drop for a look-alike")
    spoil_blue: float = Field(0.105, description="blue reflectance above this: gravel-bright")
    bright_swir16: float = Field(0.22, description="SWIR-1.6 reflectance above this is bright")
    onset_fraction: float = Field(
        0.2, gt=0, le=1, description="share of a period's clear views as spoil that starts digging"
    )
    drainage_distance_px: int = Field(
        20, ge=0, description="digging older than the baseline must lie this near a stream (px)"
    )
    unconfirmed_fraction: float = Field(
        0.35, gt=0, le=1,
        description="share of spoil views for new digging no later clear period confirms yet",
    )
    reveg_ndvi_rise: float = Field(
        0.08, gt=0, description="NDVI rise above a pixel's lowest that marks regrowth"
    )
    active_fraction: float = Field(
        0.5, gt=0, le=1, description="share of a period's clear views as spoil that keeps it active"
    )
    edge_px: int = Field(
        2, ge=0, le=3, description="grow each period's digging by up to this many pixels into "
        "neighbours that pass the relaxed edge test (mixed pixels at site borders); 0: off"
    )
    edge_ndvi_margin: float = Field(
        0.0, ge=-0.2, le=0.5, description="fixed thresholds: the edge test's NDVI is ndvi_bare "
        "plus this (and the pixel must be ndvi_drop below its baseline)",
    )
    thresholds: Literal["fixed", "adaptive"] = Field(
        "adaptive", description="fixed: the edge test's NDVI is ndvi_bare + edge_ndvi_margin; "
        "adaptive: set per period from the AOI's own median NDVI (geomon.detect.thresholds)"
    )
    edge_mix: float = Field(
        0.5, gt=0, lt=1, description="adaptive edge test: least share of spoil in a border pixel"
    )
    edge_redness_margin: float = Field(
        0.05, ge=0, le=1, description="edge test: a border pixel may be this much redder, as "
        "(red − blue)/(red + blue), than the period's spoil (adaptive) or quartz gravel (fixed); "
        "laterite roads and tilled soil beside a site are redder"
    )
    break_ndvi_drop: float = Field(
        0.12, gt=0, description="harmonic: least mean NDVI fall below the seasonal model"
    )
    break_z: float = Field(
        3.0, gt=0, description="harmonic: least |z| of a period's mean residual for a break"
    )
    dem: Path | None = Field(
        None, description="elevation GeoTIFF/COG in metres, any CRS (e.g. Copernicus GLO-30): "
        "streams traced on it count as drainage beside those the imagery shows"
    )
    dem_catchment_km2: float = Field(
        0.5, gt=0, description="upstream area that makes a DEM cell a stream, km²"
    )


class EstimateConfig(_Strict):
    """Production estimate options (see geomon.estimate)."""

    enabled: bool = True
    draws: int = Field(10_000, ge=100)
    seed: int = 0
    area_rel_error: float = Field(0.10, ge=0, le=1)
    parameters: dict[str, Any] = Field(default_factory=dict)
    declared: Path | None = Field(None, description="CSV of declared carats: period,carats")
    require_sources: bool = False


class ComputeConfig(_Strict):
    """How the work is run."""

    chunk_px: int = Field(1024, ge=64, le=8192, description="dask chunk side when reading, px")
    tile_px: int = Field(
        1024, ge=32, le=16384,
        description="largest tile side, px: areas larger than a tile are processed tile by tile",
    )
    cache: bool = Field(
        True, description="keep per-period composites under <outputs>/.cache and reuse them"
    )
    scheduler: str | None = Field(None, description="dask scheduler address, tcp://HOST:PORT")


class Pipeline(_Strict):
    """One assessment: AOI, dates, periods, imagery source, detection and estimate options."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    aoi: str
    aoi_dir: Path | None = None
    start: date
    end: date
    period: Literal["month", "quarter", "custom"] = "quarter"
    custom_periods: list[tuple[date, date]] = Field(default_factory=list)
    baseline_periods: int = Field(
        1, ge=1, le=24, description="periods of imagery before 'start' used as the baseline"
    )
    max_aoi_km2: float = Field(3600.0, gt=0)
    source: SourceConfig
    mask: MaskConfig = MaskConfig()
    detection: DetectionConfig = DetectionConfig()
    estimate: EstimateConfig = EstimateConfig()
    compute: ComputeConfig = ComputeConfig()
    outputs: Path = Path("outputs")
    path: Path | None = Field(None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _latest(cls, raw: Any) -> Any:
        """``end: latest``: the end of the last period complete before today (for cron)."""
        if isinstance(raw, dict) and raw.get("end") == "latest":
            kind = raw.get("period", "quarter")
            if kind not in ("month", "quarter"):
                raise ValueError("end: latest needs period: month or quarter")
            raw = {**raw, "end": latest_complete_end(kind, date.today())}
        return raw

    @field_validator("end")
    @classmethod
    def _not_future(cls, v: date) -> date:
        if v > date.today():
            raise ValueError(f"end date {v} is in the future")
        return v

    @model_validator(mode="after")
    def _ordered(self) -> Pipeline:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        if self.period == "custom" and not self.custom_periods:
            raise ValueError("period 'custom' needs custom_periods: [[start, end], ...]")
        if self.detection.method == "harmonic":
            year = {"quarter": 4, "month": 12}.get(self.period)
            if year is None or self.baseline_periods < year:
                raise ValueError(
                    "detection method 'harmonic' fits a seasonal model to a year of baseline: "
                    f"baseline_periods must be at least {year or 4} quarterly (12 monthly) "
                    f"periods, got {self.baseline_periods} {self.period} period(s)")
        return self

    def with_dates(self, start: date | None = None, end: date | None = None) -> Pipeline:
        """The same assessment over other dates (``geomon run --since/--until``), validated."""
        if start is None and end is None:
            return self
        update = {"start": start or self.start, "end": end or self.end}
        if update["end"] > date.today():
            raise GeomonError(f"end date {update['end']} is in the future", field="--until")
        if update["end"] < update["start"]:
            raise GeomonError(f"end {update['end']} is before start {update['start']}",
                              field="--since/--until")
        return self.model_copy(update=update)

    def periods(self) -> list[Period]:
        """The assessed periods, from ``start`` to ``end``."""
        return make_periods(self.start, self.end, self.period, self.custom_periods)

    def baseline(self) -> list[Period]:
        """The baseline periods just before ``start`` (same length as the assessed ones)."""
        if self.period == "custom":
            first = self.periods()[0]
            length = first.end - first.start
            return [Period("baseline", first.start - length - timedelta(days=1),
                           first.start - timedelta(days=1))]
        out: list[Period] = []
        cursor = self.start
        for _ in range(self.baseline_periods):
            prev_end = cursor - timedelta(days=1)
            p = make_periods(prev_end, prev_end, self.period)[0]
            out.insert(0, p)
            cursor = p.start
        return out


def check_cloud_probability(pipe: Pipeline, path: Path | None = None) -> None:
    """Raise if ``mask.cloud_probability`` is set and the source cannot provide it.

    Sentinel Hub serves the precomputed ``CLP`` band; a STAC catalogue needs a Level-1C
    collection (the twins) and the s2cloudless package; a local folder of L2A files has neither.
    """
    if pipe.mask.cloud_probability is None:
        return
    field, source = "mask.cloud_probability", pipe.source
    if source.kind == "local":
        raise GeomonError(
            "s2cloudless needs Level-1C bands (B01 ... B12 with B10) or a precomputed "
            "probability, which a local folder of L2A files does not provide", path=path,
            field=field, expected="source kind stac (Earth Search layout) or sentinelhub")
    if source.kind == "stac":
        from geomon.cloudprob import require_s2cloudless
        from geomon.sources.providers import preset

        if preset(source).l1c_collection is None:
            raise GeomonError(
                f"s2cloudless needs Level-1C twins of the L2A items, and provider "
                f"{source.provider!r} has no L1C collection geomon can read", path=path,
                field=field, expected="provider earth-search, a catalogue in the Earth Search "
                                      "layout, or source kind sentinelhub")
        try:
            require_s2cloudless(field)
        except GeomonError as exc:
            exc.path = path
            raise


@dataclass(frozen=True, order=True)
class Period:
    """A closed date interval with a label such as ``2024Q2`` or ``2024-05``."""

    label: str
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def latest_complete_end(kind: str, today: date) -> date:
    """The last day of the last ``kind`` period that ended before ``today``.

    >>> latest_complete_end("quarter", date(2026, 11, 28))
    datetime.date(2026, 9, 30)
    >>> latest_complete_end("month", date(2026, 12, 1))
    datetime.date(2026, 11, 30)
    """
    current = make_periods(today, today, kind)[0]
    return current.start - timedelta(days=1)


def make_periods(
    start: date,
    end: date,
    kind: str,
    custom: list[tuple[date, date]] | None = None,
) -> list[Period]:
    """Cut ``start..end`` into calendar periods (clipped to the calendar boundaries).

    >>> [p.label for p in make_periods(date(2024, 2, 1), date(2024, 7, 1), "quarter")]
    ['2024Q1', '2024Q2', '2024Q3']
    """
    if kind == "custom":
        return [Period(f"{a.isoformat()}_{b.isoformat()}", a, b) for a, b in custom or []]
    months = 3 if kind == "quarter" else 1
    out = []
    y, m = start.year, ((start.month - 1) // months) * months + 1
    while date(y, m, 1) <= end:
        m_end = m + months - 1
        p_end = date(y, m_end, calendar.monthrange(y, m_end)[1])
        label = f"{y}Q{(m - 1) // 3 + 1}" if kind == "quarter" else f"{y}-{m:02d}"
        out.append(Period(label, date(y, m, 1), p_end))
        m += months
        if m > 12:
            y, m = y + 1, 1
    return out


def load_pipeline(path: str | Path) -> Pipeline:
    """Read and validate a pipeline file; errors name the file, the key and what was expected."""
    path = Path(path)
    if not path.exists():
        raise GeomonError("pipeline file does not exist", path=path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise GeomonError(f"not valid YAML: {exc}", path=path) from None
    if not isinstance(raw, dict):
        raise GeomonError("a pipeline file must be a mapping of keys", path=path)
    raw.setdefault("name", path.stem)
    try:
        pipe = Pipeline.model_validate(raw)
    except ValidationError as exc:
        raise _readable(exc, path) from None
    check_cloud_probability(pipe, path)
    return _resolve_paths(pipe, path)


def _resolve_paths(pipe: Pipeline, path: Path) -> Pipeline:
    base = path.resolve().parent

    def rel(p: Path | None) -> Path | None:
        return None if p is None else (p if p.is_absolute() else (base / p).resolve())

    source = pipe.source.resolved(base)
    estimate = pipe.estimate.model_copy(update={"declared": rel(pipe.estimate.declared)})
    detection = pipe.detection.model_copy(update={"dem": rel(pipe.detection.dem)})
    return pipe.model_copy(
        update={
            "path": path.resolve(),
            "aoi_dir": rel(pipe.aoi_dir),
            "outputs": rel(pipe.outputs),
            "source": source,
            "detection": detection,
            "estimate": estimate,
        }
    )


def _readable(exc: ValidationError, path: Path) -> GeomonError:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or None
    kind = err["type"]
    if kind == "extra_forbidden":
        return GeomonError("unknown key", path=path, field=field, expected=_known_keys(err["loc"]))
    if kind == "missing":
        return GeomonError("missing required key", path=path, field=field)
    msg = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    shown = "" if isinstance(value, dict) or kind == "value_error" else f" (got {value!r})"
    return GeomonError(f"{msg}{shown}", path=path, field=field)


def _known_keys(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] = Pipeline
    for part in loc[:-1]:
        ann = model.model_fields[str(part)].annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
    keys = [k for k in model.model_fields if k != "path"]
    return "one of: " + ", ".join(keys)
