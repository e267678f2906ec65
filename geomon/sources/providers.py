"""Provider presets: endpoint, collection, asset names and access of each public Sentinel-2 host.

A pipeline names a ``provider`` and may override any part (``url``, ``collection``, ``assets``,
``sh_base_url`` ...). Asset keys map our band names (Earth Search's, DESIGN.md section 2) to the
provider's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from geomon.errors import GeomonError

__all__ = ["CDSE_SH", "EARTH_SEARCH_L1C_ASSETS", "PRESETS", "SH_DEFAULT", "StacPreset", "preset",
           "signer"]


@dataclass(frozen=True)
class StacPreset:
    """What differs between STAC providers of Sentinel-2 L2A."""

    url: str | None
    collection: str = "sentinel-2-l2a"
    assets: dict[str, str] = field(default_factory=dict)
    sign: str | None = None
    gdal: dict[str, str] = field(default_factory=dict)
    #: Collection of the Level-1C twins (for s2cloudless), None where the host has none.
    l1c_collection: str | None = "sentinel-2-l1c"
    #: s2cloudless band (B01 ... B12) -> asset key of the L1C items.
    l1c_assets: dict[str, str] = field(default_factory=lambda: dict(EARTH_SEARCH_L1C_ASSETS))


#: s2cloudless's bands → Earth Search v1 ``sentinel-2-l1c`` asset keys (JPEG 2000 in the
#: requester-pays ``s3://sentinel-s2-l1c`` bucket on Earth Search itself).
EARTH_SEARCH_L1C_ASSETS: dict[str, str] = {
    "B01": "coastal", "B02": "blue", "B04": "red", "B05": "rededge1", "B08": "nir",
    "B8A": "nir08", "B09": "nir09", "B10": "cirrus", "B11": "swir16", "B12": "swir22",
}

#: Element84 Earth Search v1: COGs on public S3 over HTTPS, no credentials.
EARTH_SEARCH = StacPreset(url="https://earth-search.aws.element84.com/v1")

#: Microsoft Planetary Computer: COGs on Azure Blob, read with short-lived SAS-signed URLs.
PLANETARY_COMPUTER = StacPreset(
    url="https://planetarycomputer.microsoft.com/api/stac/v1",
    assets={"blue": "B02", "green": "B03", "red": "B04", "nir": "B08", "swir16": "B11",
            "swir22": "B12", "scl": "SCL"},
    sign="planetary-computer",
    l1c_collection=None,  # Planetary Computer serves Sentinel-2 L2A only
)

#: Copernicus Data Space Ecosystem STAC (JPEG 2000 in the ``eodata`` S3 bucket; reading needs
#: CDSE S3 keys in ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``).
CDSE_STAC = StacPreset(
    url="https://stac.dataspace.copernicus.eu/v1",
    assets={"blue": "B02_10m", "green": "B03_10m", "red": "B04_10m", "nir": "B08_10m",
            "swir16": "B11_20m", "swir22": "B12_20m", "scl": "SCL_20m"},
    gdal={"AWS_S3_ENDPOINT": "eodata.dataspace.copernicus.eu", "AWS_VIRTUAL_HOSTING": "FALSE",
          "AWS_HTTPS": "YES"},
    l1c_collection=None,  # CDSE's L1C asset keys are not verified here yet
)

PRESETS: dict[str, StacPreset] = {
    "earth-search": EARTH_SEARCH,
    "planetary-computer": PLANETARY_COMPUTER,
    "cdse": CDSE_STAC,
}


@dataclass(frozen=True)
class ShEndpoints:
    """A Sentinel Hub deployment: services root and OAuth token endpoint."""

    base_url: str
    token_url: str


#: Sentinel Hub on the Copernicus Data Space Ecosystem.
CDSE_SH = ShEndpoints(
    base_url="https://sh.dataspace.copernicus.eu",
    token_url="https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/"
              "token",
)
#: Sinergise's commercial Sentinel Hub.
SH_DEFAULT = ShEndpoints(
    base_url="https://services.sentinel-hub.com",
    token_url="https://services.sentinel-hub.com/auth/realms/main/protocol/openid-connect/token",
)
SH_PRESETS: dict[str, ShEndpoints] = {"cdse": CDSE_SH, "sentinel-hub": SH_DEFAULT}


def preset(config: Any) -> StacPreset:
    """The STAC preset a ``source`` block asks for, with its overrides applied."""
    base = PRESETS[config.provider] if config.provider else StacPreset(url=None)
    return StacPreset(
        url=config.url or base.url,
        collection=config.collection or base.collection,
        assets={**base.assets, **config.assets},
        sign=config.sign or base.sign,
        gdal=dict(base.gdal),
        l1c_collection=base.l1c_collection,
        l1c_assets=dict(base.l1c_assets),
    )


def signer(name: str | None) -> tuple[Callable[[Any], Any] | None, Callable[[str], str] | None]:
    """(item modifier for pystac-client, URL patcher for odc-stac) of a signing scheme."""
    if name is None:
        return None, None
    if name == "planetary-computer":
        try:
            import planetary_computer
        except ImportError:
            raise GeomonError(
                "reading from Planetary Computer needs the 'planetary-computer' package",
                field="source.provider", expected="pip install planetary-computer") from None
        return planetary_computer.sign_inplace, planetary_computer.sign
    raise GeomonError(f"unknown signing scheme {name!r}", field="source.sign")  # pragma: no cover
