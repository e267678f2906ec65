"""Sentinel Hub source: Catalog API search + Process API requests, assembled into the same cube.

Works with the Copernicus Data Space Ecosystem (``provider: cdse``) and any other Sentinel Hub
deployment (``sh_base_url``, ``sh_token_url``). Credentials come from ``SH_CLIENT_ID`` /
``SH_CLIENT_SECRET`` in the environment, or a sentinelhub ``profile``; never from the pipeline
file, and never into logs, manifests or error messages.

The AOI grid is cut into tiles of at most ``max_request_px`` (≤ 2500) pixels a side; each
(solar day, tile) is one Process request, made lazily as a :func:`dask.delayed` call when the cube
is computed, and cached on disk by request hash (sentinelhub-py's ``data_folder``), so a re-run
reads the cache instead of paying for the request again. Each request asks for DN of the six
bands and SCL as one 7-band UINT16 GeoTIFF on exactly the tile's UTM grid, with
``harmonizeValues`` on: values of baseline ≥ 04.00 are shifted back to the old range, so
reflectance = DN × 0.0001 with offset 0 for every date.

With a cloud probability asked for, an eighth band carries Sentinel Hub's precomputed s2cloudless
probability ``CLP`` (0-255; ÷ 255 gives 0-1; computed by Sentinel Hub at 160 m), or 65535 where
``CLM`` is 255 (the tile has no CLP/CLM: CLP would read 0) or there is no data; it becomes
``cloud_prob`` (NaN for those).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

from geomon.aoi import AOI
from geomon.cloudprob import CLOUD_PROB
from geomon.errors import GeomonError, NoImageryError
from geomon.sources._base import BANDS, SCL, Cube
from geomon.sources._grid import aoi_geobox, tiles
from geomon.sources._load_items import solar_day
from geomon.sources._redact import redact, remember_secret
from geomon.sources._reflectance import DEFAULT_SCALE, to_reflectance
from geomon.sources._retry import RetryPolicy
from geomon.sources._skipped import SkipLog
from geomon.sources.providers import SH_PRESETS

log = logging.getLogger(__name__)

__all__ = ["EVALSCRIPT", "EVALSCRIPT_CLP", "SentinelHubSource", "evalscript", "sh_config"]

#: Sentinel Hub band names, in the order of our :data:`BANDS` then ``scl``.
SH_BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B08", "B11", "B12", "SCL")
#: Value of the CLP output band where the probability is unknown.
CLP_UNKNOWN = 65535


def evalscript(cloud_probability: bool = False) -> str:
    """Evalscript: DN of the six bands and SCL (0 where there is no data), then optionally CLP.

    The eighth band is ``CLP`` (0-255), or :data:`CLP_UNKNOWN` where ``CLM`` is 255 (no cloud
    data for the tile) or there is no data at all.
    """
    names = [*SH_BANDS, *(("CLP", "CLM") if cloud_probability else ()), "dataMask"]
    n = len(SH_BANDS) + int(cloud_probability)
    values = ", ".join(f"s.{b}" for b in SH_BANDS)
    empty = ", ".join(["0"] * len(SH_BANDS))
    if cloud_probability:
        values += f", (s.CLM === 255 ? {CLP_UNKNOWN} : s.CLP)"
        empty += f", {CLP_UNKNOWN}"
    quoted = ", ".join(f'"{b}"' for b in names)
    return f"""//VERSION=3
function setup() {{
  return {{
    input: [{{bands: [{quoted}],
             units: "DN"}}],
    output: {{id: "default", bands: {n}, sampleType: "UINT16"}}
  }};
}}
function evaluatePixel(s) {{
  if (s.dataMask === 0) {{ return [{empty}]; }}
  return [{values}];
}}
"""


#: Evalscript of the six bands and SCL.
EVALSCRIPT = evalscript(False)
#: The same with Sentinel Hub's s2cloudless probability ``CLP`` as an eighth band.
EVALSCRIPT_CLP = evalscript(True)

#: Reflectance of harmonized DN: the same for every processing baseline.
SH_SCALE_OFFSET = (DEFAULT_SCALE, 0.0)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/geomon/sentinelhub`` (``~/.cache/geomon/sentinelhub``)."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(root) / "geomon" / "sentinelhub"


def sh_config(config: Any) -> Any:
    """The :class:`sentinelhub.SHConfig` a ``source`` block describes, with credentials.

    Credentials: ``SH_CLIENT_ID``/``SH_CLIENT_SECRET`` if set, else the ``profile`` (or the
    default profile of an existing sentinelhub config file). Endpoints: the ``provider`` preset,
    overridden by ``sh_base_url``/``sh_token_url``.
    """
    from sentinelhub import SHConfig

    preset = SH_PRESETS.get(config.provider or "", SH_PRESETS["cdse"])
    policy = RetryPolicy.from_config(config)
    settings = {
        "sh_base_url": (config.sh_base_url or preset.base_url).rstrip("/"),
        "sh_token_url": config.sh_token_url or preset.token_url,
        "max_download_attempts": policy.retries + 1,
        "download_sleep_time": policy.backoff_s,
        "download_timeout_seconds": policy.timeout_s,
        "max_retries": policy.retries + 1,
    }
    env_id, env_secret = os.environ.get("SH_CLIENT_ID"), os.environ.get("SH_CLIENT_SECRET")
    if config.profile is None and env_id and env_secret:
        remember_secret(env_secret)
        return SHConfig(use_defaults=True, sh_client_id=env_id, sh_client_secret=env_secret,
                        **settings)
    profile = config.profile
    if profile is None and not Path(SHConfig.get_config_location()).exists():
        raise GeomonError("no Sentinel Hub credentials", field="source",
                          expected="SH_CLIENT_ID and SH_CLIENT_SECRET in the environment, or "
                                   "'profile' naming a sentinelhub config profile")
    try:
        loaded = SHConfig(profile=profile)
    except KeyError:
        raise GeomonError(f"sentinelhub profile {profile!r} not found in "
                          f"{SHConfig.get_config_location()}", field="source.profile") from None
    remember_secret(loaded.sh_client_secret)
    if not (loaded.sh_client_id and loaded.sh_client_secret):
        raise GeomonError("the sentinelhub profile has no client id/secret", field="source",
                          expected="SH_CLIENT_ID and SH_CLIENT_SECRET, or a profile with them")
    for key, value in settings.items():
        if key in ("sh_base_url", "sh_token_url") and not (
                config.provider or config.sh_base_url or config.sh_token_url):
            continue  # a profile's own endpoints stand unless the pipeline names others
        setattr(loaded, key, value)
    return loaded


@dataclass(frozen=True)
class _Acquisition:
    """One solar day: its time stamp and the catalogue features of that day."""

    day: date
    when: datetime
    features: tuple[dict[str, Any], ...]


class SentinelHubSource:
    """Imagery from Sentinel Hub (Catalog + Process APIs), as a lazy cube.

    Parameters
    ----------
    config
        The pipeline's ``source`` block (``kind: sentinelhub``).
    """

    def __init__(self, config: Any) -> None:
        self.config = config
        self.policy = RetryPolicy.from_config(config)
        self.collection_id = config.collection or "sentinel-2-l2a"

    def _setup(self) -> tuple[Any, Any]:
        from sentinelhub import DataCollection

        shc = sh_config(self.config)
        base = {"sentinel-2-l2a": DataCollection.SENTINEL2_L2A}.get(self.collection_id)
        if base is None:
            raise GeomonError(f"unsupported collection {self.collection_id!r}",
                              field="source.collection", expected="sentinel-2-l2a")
        digest = hashlib.sha1(shc.sh_base_url.encode()).hexdigest()[:10]
        name = f"geomon-{self.collection_id}-{digest}"
        return shc, base.define_from(name, service_url=shc.sh_base_url)

    def search(self, aoi: AOI, start: date, end: date) -> list[dict[str, Any]]:
        """Catalog API features over ``aoi`` from ``start`` to ``end`` under the cloud limit."""
        from sentinelhub import CRS, Geometry, SentinelHubCatalog

        shc, collection = self._setup()
        c = self.config
        try:
            catalog = SentinelHubCatalog(config=shc)
            found = catalog.search(
                collection,
                geometry=Geometry(aoi.geometry, CRS.WGS84),
                time=(f"{start.isoformat()}T00:00:00Z", f"{end.isoformat()}T23:59:59Z"),
                filter=f"eo:cloud_cover <= {c.max_cloud_cover:g}",
                fields={"include": ["id", "properties.datetime", "properties.eo:cloud_cover",
                                    "properties.platform", "properties.s2:processing_baseline"],
                        "exclude": []},
                limit=100,
            )
            features = []
            for f in found:
                features.append(f)
                if len(features) >= c.max_items:
                    break
        except Exception as exc:  # DownloadFailedException, ValueError (no credentials), ...
            raise GeomonError(f"Sentinel Hub catalog search failed: "
                              f"{redact(str(exc), _secrets(shc))[:400]}", field="source") from None
        features = [f for f in features
                    if (f["properties"].get("eo:cloud_cover") or 0) <= c.max_cloud_cover]
        if not features:
            raise NoImageryError(f"no {self.collection_id} imagery over AOI {aoi.id!r} from "
                                 f"{start} to {end} with cloud cover ≤ {c.max_cloud_cover:g}% "
                                 f"in Sentinel Hub {shc.sh_base_url}")
        return sorted(features, key=lambda f: (f["properties"]["datetime"], f["id"]))

    def load(self, aoi: AOI, start: date, end: date, *, chunk_px: int = 1024,
             cloud_probability: bool = False,
             periods: Sequence[tuple[date, date]] = ()) -> Cube:
        """Lazy reflectance cube over ``aoi`` (see :mod:`geomon.sources`).

        With ``cloud_probability`` the requests also return Sentinel Hub's ``CLP`` band, which
        becomes ``cloud_prob`` (0-1, NaN where unknown). ``periods`` is not used: each
        acquisition is its own request and time chunk.
        """
        features = self.search(aoi, start, end)
        n_bands = len(SH_BANDS) + int(cloud_probability)
        shc, collection = self._setup()
        lon = aoi.geometry.centroid.x
        days = _by_solar_day(features, lon)
        side = min(self.config.max_request_px, chunk_px)
        cache = Path(self.config.cache_dir) if self.config.cache_dir else default_cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        skipped = SkipLog()
        log.info("found %d acquisitions (%d solar days) in Sentinel Hub %s; requests of at "
                 "most %d px", len(features), len(days), shc.sh_base_url, side)

        def on(geobox: GeoBox) -> xr.Dataset:
            grid = tiles(geobox, side)
            per_day = []
            for acq in days:
                rows = []
                for row in grid:
                    blocks = []
                    for tile in row:
                        fetch = _TileFetch(
                            config=shc, collection=collection, tile=tile, day=acq.day, lon=lon,
                            mosaicking=self.config.mosaicking_order, cache_dir=str(cache),
                            ids=tuple(f["id"] for f in acq.features), when=acq.when.isoformat(),
                            sink=_Sink(skipped), bands=n_bands)
                        h, w = tile.shape.yx
                        delayed = dask.delayed(fetch, pure=True, traverse=False)
                        blocks.append(da.from_delayed(delayed(), shape=(n_bands, h, w),
                                                      dtype="uint16"))
                    rows.append(blocks)
                per_day.append(da.block(rows))
            stack = da.stack(per_day)  # (time, band, y, x)
            coords = xr_coords(geobox, crs_coord_name="spatial_ref")
            times = np.array([np.datetime64(a.when.replace(tzinfo=None), "ns") for a in days])
            raw = xr.Dataset(
                {band: (("time", "y", "x"), stack[:, i])
                 for i, band in enumerate([*BANDS, SCL])},
                coords={"time": times, **coords},
            )
            cube = to_reflectance(raw, {b: [SH_SCALE_OFFSET] * len(days) for b in BANDS})
            if cloud_probability:
                cube[CLOUD_PROB] = _clp(stack[:, len(SH_BANDS)], raw)
            return cube

        items = [_summary(f) for a in days for f in a.features]
        return Cube(data=on(aoi_geobox(aoi)), items=items, skipped=skipped, loader=on)


def _clp(dn: da.Array, raw: xr.Dataset) -> xr.DataArray:
    """CLP DN (0-255, :data:`CLP_UNKNOWN`) → probability 0-1 (NaN where unknown)."""
    prob = da.where(dn == CLP_UNKNOWN, np.float32(np.nan), dn.astype("float32") / 255)
    return xr.DataArray(prob, dims=("time", "y", "x"), coords=raw.coords,
                        attrs={"units": "1", "model": "s2cloudless", "source": "Sentinel Hub CLP"})


class _Sink:
    """Holds the cube's SkipLog (an object, so dask does not copy it as a list argument)."""

    def __init__(self, target: SkipLog) -> None:
        self.target = target


@dataclass(frozen=True)
class _TileFetch:
    """One Process API request: a (solar day, tile) of DN, from the cache if present."""

    config: Any
    collection: Any
    tile: GeoBox
    day: date
    lon: float
    mosaicking: str
    cache_dir: str
    ids: tuple[str, ...]
    when: str
    sink: _Sink
    bands: int = len(SH_BANDS)

    def request(self) -> Any:
        """The :class:`sentinelhub.SentinelHubRequest` of this tile and day."""
        from sentinelhub import CRS as ShCRS
        from sentinelhub import BBox, MimeType, MosaickingOrder, SentinelHubRequest

        # the solar day in UTC: acquisitions of one pass fall well inside it
        lo = datetime.combine(self.day, time.min, tzinfo=UTC) - timedelta(hours=self.lon / 15)
        hi = lo + timedelta(days=1) - timedelta(seconds=1)
        b = self.tile.boundingbox
        return SentinelHubRequest(
            evalscript=evalscript(self.bands > len(SH_BANDS)),
            input_data=[SentinelHubRequest.input_data(
                data_collection=self.collection,
                time_interval=(lo.strftime("%Y-%m-%dT%H:%M:%SZ"),
                               hi.strftime("%Y-%m-%dT%H:%M:%SZ")),
                mosaicking_order=MosaickingOrder(self.mosaicking),
                other_args={"processing": {"harmonizeValues": True}},
            )],
            responses=[SentinelHubRequest.output_response("default", MimeType.TIFF)],
            bbox=BBox((b.left, b.bottom, b.right, b.top), crs=ShCRS(self.tile.crs.epsg)),
            size=(self.tile.shape.x, self.tile.shape.y),
            config=self.config,
            data_folder=self.cache_dir,
        )

    def __call__(self) -> np.ndarray:
        h, w = self.tile.shape.yx
        try:
            (data,) = self.request().get_data(save_data=True)
            arr = np.asarray(data)
            if arr.ndim == 2:
                arr = arr[..., None]
            arr = np.moveaxis(arr, -1, 0).astype("uint16")
            if arr.shape != (self.bands, h, w):
                raise ValueError(f"response has shape {arr.shape}, expected "
                                 f"{(self.bands, h, w)}")
            return arr
        except Exception as exc:  # after sentinelhub-py's own retries: record, fill, go on
            reason = redact(f"{type(exc).__name__}: {exc}", _secrets(self.config))
            for item_id in self.ids:
                self.sink.target.add(item_id=item_id, asset="process-api", datetime=self.when,
                                     reason=reason)
            out = np.zeros((self.bands, h, w), "uint16")
            out[len(SH_BANDS):] = CLP_UNKNOWN
            return out


def _secrets(shc: Any) -> list[str]:
    return [getattr(shc, "sh_client_secret", ""), getattr(shc, "sh_client_id", "")]


def _by_solar_day(features: list[dict[str, Any]], lon: float) -> list[_Acquisition]:
    groups: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for f in features:
        groups[solar_day(_parse(f["properties"]["datetime"]), lon)].append(f)
    return [_Acquisition(day=d, when=min(_parse(f["properties"]["datetime"]) for f in fs),
                         features=tuple(fs)) for d, fs in sorted(groups.items())]


def _parse(text: str) -> datetime:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def _summary(feature: dict[str, Any]) -> dict[str, Any]:
    p = feature["properties"]
    return {"id": feature["id"], "datetime": _parse(p["datetime"]).isoformat(),
            "cloud_cover": p.get("eo:cloud_cover"), "platform": p.get("platform"),
            "processing_baseline": p.get("s2:processing_baseline")}
