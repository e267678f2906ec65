"""STAC source: a STAC API (pystac-client) or a static catalog / ItemCollection (file or URL).

Pixels are read with :func:`odc.stac.load` onto the AOI's UTM grid, mosaicked per solar day, and
converted to reflectance with each item's own declared scale and offset (see
:mod:`geomon.sources._load_items`). Provider presets (:mod:`geomon.sources.providers`) fill in the
URL, collection, asset names and URL signing of Earth Search, Planetary Computer and CDSE.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pystac
import requests
import xarray as xr
from pystac.stac_io import RetryStacIO
from shapely.geometry import mapping, shape

from geomon.aoi import AOI
from geomon.errors import GeomonError, NoImageryError
from geomon.sources._base import BANDS, Cube
from geomon.sources._l1c import with_cloud_probability
from geomon.sources._load_items import item_summary, load_items, solar_day
from geomon.sources._redact import redact, redact_url
from geomon.sources._reflectance import declared_scale_offset, to_reflectance
from geomon.sources._retry import RetryPolicy
from geomon.sources.providers import StacPreset, preset, signer

log = logging.getLogger(__name__)

__all__ = ["StacSource", "item_summary", "reflectance"]

_PAGE = 100
_ITEM_SEARCH = "https://api.stacspec.org/v1.0.0/item-search"


class StacSource:
    """Items from a STAC API or a static STAC document, loaded lazily with odc-stac.

    Parameters
    ----------
    config
        The pipeline's ``source`` block (:class:`geomon.config.SourceConfig`, ``kind: stac``).
    """

    def __init__(self, config: Any) -> None:
        self.config = config
        self.preset: StacPreset = preset(config)
        self.policy = RetryPolicy.from_config(config)
        self._modifier, self._patch_url = signer(self.preset.sign)

    @property
    def description(self) -> str:
        c = self.config
        if c.catalog is not None:
            return f"static catalog {c.catalog}"
        return f"STAC {redact_url(self.preset.url or '')}"

    def search(self, aoi: AOI, start: date, end: date, *, collection: str | None = None
               ) -> list[pystac.Item]:
        """Items of the configured collection over ``aoi`` between ``start`` and ``end``.

        ``collection`` searches another collection of the same catalogue instead (the L1C twins):
        without the cloud-cover filter (their L2A twins passed it already), and returning an
        empty list rather than raising when nothing matches.

        Raises
        ------
        NoImageryError
            Nothing matches: never an empty result.
        GeomonError
            The catalogue cannot be read or refuses the search.
        """
        c, p = self.config, self.preset
        wanted = collection or p.collection
        if c.catalog is not None:
            found = _read_static(Path(c.catalog))
        else:
            found = self._search_url(aoi, start, end, wanted)
        items = [i for i in found if _matches(i, aoi, start, end)
                 and i.collection_id in (None, wanted)]
        kept = [i for i in items if collection is not None
                or (i.properties.get("eo:cloud_cover") or 0.0) <= c.max_cloud_cover]
        kept.sort(key=lambda i: (i.datetime, i.id))
        if not kept and collection is None:
            raise NoImageryError(
                f"no {p.collection} imagery over AOI {aoi.id!r} from {start} to {end} "
                f"with cloud cover ≤ {c.max_cloud_cover:g}% in {self.description}"
            )
        return kept[: c.max_items]

    def load(self, aoi: AOI, start: date, end: date, *, chunk_px: int = 1024,
             cloud_probability: bool = False,
             periods: Sequence[tuple[date, date]] = ()) -> Cube:
        """Lazy reflectance cube over ``aoi`` (see :mod:`geomon.sources`).

        With ``cloud_probability`` the cube also holds ``cloud_prob``: s2cloudless run on the
        Level-1C twins of the items (:mod:`geomon.sources._l1c`).
        """
        items = self.search(aoi, start, end)
        log.info("found %d items in %s", len(items), self.description)
        cube = load_items(items, aoi, chunk_px=chunk_px, policy=self.policy,
                          assets=self.preset.assets, patch_url=self._patch_url,
                          gdal=self.preset.gdal, periods=periods)
        if not cloud_probability:
            return cube
        l1c_collection = self.l1c_collection()
        twins = self.search(aoi, start, end, collection=l1c_collection)
        log.info("found %d %s items for the cloud probability", len(twins), l1c_collection)
        return with_cloud_probability(
            cube, twins, items, lon=aoi.geometry.centroid.x, chunk_px=chunk_px,
            assets=self.preset.l1c_assets, gdal={**self.policy.gdal_options(),
                                                 **self.preset.gdal},
            patch_url=self._patch_url)

    def l1c_collection(self) -> str:
        """The Level-1C collection of this catalogue.

        Raises
        ------
        GeomonError
            The provider has none (or none geomon knows the asset names of).
        """
        name = self.preset.l1c_collection
        if name is None:
            raise GeomonError(
                f"cloud_probability: s2cloudless needs Level-1C twins of the L2A items, and "
                f"provider {self.config.provider!r} has no L1C collection geomon can read",
                field="mask.cloud_probability",
                expected="source provider earth-search, a catalogue in the Earth Search layout "
                         "with a sentinel-2-l1c collection, or kind: sentinelhub")
        return name

    # -- remote catalogues ---------------------------------------------------------------------

    def _search_url(self, aoi: AOI, start: date, end: date, collection: str
                    ) -> list[pystac.Item]:
        url = self.preset.url or ""
        session = self.policy.session()
        try:
            resp = session.get(url)
            if resp.status_code >= 400:
                raise GeomonError(f"{redact_url(url)} answered HTTP {resp.status_code}",
                                  field="source.url")
            doc = resp.json()
        except requests.RequestException as exc:
            raise GeomonError(f"cannot reach {redact_url(url)}: {redact(str(exc))}",
                              field="source.url") from None
        except ValueError:
            raise GeomonError(f"{redact_url(url)} did not answer with JSON",
                              field="source.url") from None
        if doc.get("type") == "FeatureCollection":
            items = pystac.ItemCollection.from_dict(doc, preserve_dict=False).items
            return [_signed(i, self._modifier) for i in items]
        if _is_api(doc):
            return self._search_api(url, aoi, start, end, collection)
        return list(_read_static_url(url, self.policy, self._modifier))

    def _search_api(self, url: str, aoi: AOI, start: date, end: date, collection: str
                    ) -> list[pystac.Item]:
        import pystac_client
        from pystac_client.stac_api_io import StacApiIO

        c = self.config
        io = StacApiIO(max_retries=self.policy.urllib3_retry(), timeout=self.policy.timeout_s)
        try:
            client = pystac_client.Client.open(url, stac_io=io, modifier=self._modifier,
                                               timeout=self.policy.timeout_s)
            extra: dict[str, Any] = {}
            twins = collection != self.preset.collection  # L1C twins: no cloud filter
            if not twins and client.conforms_to(pystac_client.ConformanceClasses.QUERY):
                extra["query"] = {"eo:cloud_cover": {"lte": c.max_cloud_cover}}
            search = client.search(
                collections=[collection],
                intersects=mapping(aoi.geometry),
                datetime=f"{start.isoformat()}T00:00:00Z/{end.isoformat()}T23:59:59Z",
                max_items=c.max_items,
                limit=min(_PAGE, c.max_items),
                **extra,
            )
            return list(search.items())
        except pystac_client.exceptions.APIError as exc:
            raise GeomonError(f"STAC API refused the search: {redact(str(exc))[:300]}",
                              field="source.url") from None
        except (OSError, requests.RequestException) as exc:
            raise GeomonError(f"cannot reach STAC API {redact_url(url)}: "
                              f"{redact(str(exc))[:300]}", field="source.url") from None


def _is_api(doc: dict[str, Any]) -> bool:
    conforms = doc.get("conformsTo") or []
    return any(str(c).endswith("/item-search") for c in conforms) or any(
        link.get("rel") == "search" for link in doc.get("links", []))


def _signed(item: pystac.Item, modifier: Any) -> pystac.Item:
    if modifier is not None:
        modifier(item)
    return item


def _read_static_url(url: str, policy: RetryPolicy, modifier: Any) -> Iterable[pystac.Item]:
    io = RetryStacIO(retry=policy.urllib3_retry())
    try:
        cat = pystac.read_file(url, stac_io=io)
        for item in cat.get_items(recursive=True):
            yield _signed(item, modifier)
    except Exception as exc:  # pystac raises many kinds; all mean "cannot read the catalogue"
        raise GeomonError(f"cannot read static catalog {redact_url(url)}: "
                          f"{redact(str(exc))[:300]}", field="source.url") from None


def _read_static(path: Path) -> Iterable[pystac.Item]:
    if not path.exists():
        raise GeomonError("catalog file does not exist", path=path, field="source.catalog")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise GeomonError(f"not valid JSON ({exc.msg})", path=path,
                          field="source.catalog") from None
    if doc.get("type") == "FeatureCollection":
        return pystac.ItemCollection.from_dict(doc, preserve_dict=False).items
    if doc.get("type") in ("Catalog", "Collection"):
        cat = pystac.read_file(str(path))
        return cat.get_items(recursive=True)
    raise GeomonError(
        f"unrecognised STAC document type {doc.get('type')!r}",
        path=path,
        field="source.catalog",
        expected="a Catalog, Collection or ItemCollection (FeatureCollection)",
    )


def _matches(item: pystac.Item, aoi: AOI, start: date, end: date) -> bool:
    if item.geometry is None or not shape(item.geometry).intersects(aoi.geometry):
        return False
    lo = datetime.combine(start, time.min, tzinfo=UTC)
    hi = datetime.combine(end, time.max, tzinfo=UTC)
    return item.datetime is not None and lo <= item.datetime <= hi


def reflectance(raw: xr.Dataset, items: list[pystac.Item], *, lon: float) -> xr.Dataset:
    """Convert a DN cube loaded from ``items`` (Earth Search asset names) to reflectance.

    Each time step gets the declared scale and offset of the first item of its solar day; DN 0
    is nodata and becomes NaN (see :mod:`geomon.sources._reflectance`).
    """
    by_day: dict[date, pystac.Item] = {}
    for it in sorted(items, key=lambda i: i.datetime):
        by_day.setdefault(solar_day(it.datetime, lon), it)
    days = [solar_day(datetime.fromtimestamp(t.astype("datetime64[s]").astype(int), UTC), lon)
            for t in raw.time.values]

    def so(item: pystac.Item, band: str) -> tuple[float, float]:
        asset = item.assets.get(band)
        return declared_scale_offset(asset.extra_fields if asset else {}, item.properties)

    return to_reflectance(raw, {b: [so(by_day[d], b) for d in days] for b in BANDS})
