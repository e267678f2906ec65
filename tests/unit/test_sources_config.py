"""The ``source`` block: one schema for every kind, foreign keys refused, paths resolved."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from geomon.config import SourceConfig, load_pipeline
from geomon.errors import GeomonError
from geomon.sources import make_source
from geomon.sources.local import LocalSource
from geomon.sources.providers import CDSE_SH, preset
from geomon.sources.sentinelhub import SentinelHubSource, sh_config
from geomon.sources.stac import StacSource
from tests.helpers import write_pipeline


@pytest.mark.parametrize(
    ("block", "kind"),
    [
        ({"kind": "stac", "url": "https://earth-search.aws.element84.com/v1"}, StacSource),
        ({"kind": "stac", "provider": "planetary-computer"}, StacSource),
        ({"kind": "stac", "catalog": "cat.json"}, StacSource),
        ({"kind": "sentinelhub", "provider": "cdse"}, SentinelHubSource),
        ({"kind": "sentinelhub", "sh_base_url": "https://sh.example"}, SentinelHubSource),
        ({"kind": "local", "folder": "tiffs"}, LocalSource),
    ],
)
def test_each_kind_builds_its_source(block, kind):
    assert isinstance(make_source(SourceConfig(**block)), kind)


@pytest.mark.parametrize(
    ("block", "words"),
    [
        ({"kind": "stac"}, "exactly one"),
        ({"kind": "stac", "catalog": "c.json", "url": "http://x"}, "not both"),
        ({"kind": "stac", "url": "http://x", "folder": "f"}, "'folder' does not apply"),
        ({"kind": "local"}, "needs 'folder'"),
        ({"kind": "local", "folder": "f", "sh_base_url": "http://x"}, "does not apply"),
        ({"kind": "sentinelhub"}, "'provider' (cdse or sentinel-hub)"),
        ({"kind": "sentinelhub", "provider": "earth-search"}, "needs kind: stac"),
        ({"kind": "stac", "provider": "sentinel-hub"}, "needs kind: sentinelhub"),
        ({"kind": "stac", "url": "http://x", "retries": -1}, "greater than or equal"),
        ({"kind": "stac", "url": "http://x", "client_secret": "x"}, "Extra inputs"),
    ],
)
def test_bad_blocks_are_refused(block, words):
    with pytest.raises(ValidationError, match=words.replace("(", r"\(").replace(")", r"\)")):
        SourceConfig(**block)


def test_bad_key_in_a_pipeline_names_file_and_field(tmp_path):
    path = write_pipeline(tmp_path, source={"kind": "local", "folder": "x", "url": "http://y"})
    with pytest.raises(GeomonError) as err:
        load_pipeline(path)
    assert str(path) in str(err.value) and "does not apply" in str(err.value)


def test_resolved_makes_paths_absolute(tmp_path):
    c = SourceConfig(kind="sentinelhub", provider="cdse", cache_dir=Path("cache"))
    c = c.resolved(tmp_path)
    assert c.cache_dir == tmp_path / "cache"
    c = SourceConfig(kind="local", folder=Path("data/tiffs")).resolved(tmp_path)
    assert c.folder == tmp_path / "data" / "tiffs"


def test_presets_and_overrides():
    pc = preset(SourceConfig(kind="stac", provider="planetary-computer"))
    assert pc.url.startswith("https://planetarycomputer.microsoft.com/")
    assert pc.assets["swir16"] == "B11" and pc.assets["scl"] == "SCL"
    assert pc.sign == "planetary-computer"
    es = preset(SourceConfig(kind="stac", provider="earth-search", collection="x",
                             assets={"red": "B04"}))
    assert es.url == "https://earth-search.aws.element84.com/v1"
    assert es.collection == "x" and es.assets == {"red": "B04"}
    cdse = preset(SourceConfig(kind="stac", provider="cdse"))
    assert cdse.assets["swir16"] == "B11_20m" and cdse.gdal["AWS_VIRTUAL_HOSTING"] == "FALSE"


def test_cdse_sentinelhub_endpoints_and_retry_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("SH_CLIENT_ID", "id-123")
    monkeypatch.setenv("SH_CLIENT_SECRET", "secret-456")
    shc = sh_config(SourceConfig(kind="sentinelhub", provider="cdse", retries=2, backoff_s=0.5,
                                 timeout_s=30))
    assert shc.sh_base_url == CDSE_SH.base_url == "https://sh.dataspace.copernicus.eu"
    assert shc.sh_token_url == ("https://identity.dataspace.copernicus.eu/auth/realms/CDSE/"
                                "protocol/openid-connect/token")
    assert (shc.sh_client_id, shc.sh_client_secret) == ("id-123", "secret-456")
    assert (shc.max_download_attempts, shc.download_sleep_time,
            shc.download_timeout_seconds) == (3, 0.5, 30)
    assert "secret-456" not in repr(shc) and not list(tmp_path.iterdir())


def test_credentials_from_a_profile(monkeypatch, tmp_path):
    from sentinelhub import SHConfig

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("SH_CLIENT_ID", raising=False)
    monkeypatch.delenv("SH_CLIENT_SECRET", raising=False)
    SHConfig(use_defaults=True, sh_client_id="pid", sh_client_secret="psecret",
             sh_base_url="https://sh.dataspace.copernicus.eu").save("cdse-test")
    assert Path(SHConfig.get_config_location()).is_relative_to(tmp_path)
    shc = sh_config(SourceConfig(kind="sentinelhub", profile="cdse-test",
                                 sh_base_url="https://sh.example"))
    assert (shc.sh_client_id, shc.sh_client_secret) == ("pid", "psecret")
    assert shc.sh_base_url == "https://sh.example"
    with pytest.raises(GeomonError, match="profile 'nope' not found"):
        sh_config(SourceConfig(kind="sentinelhub", provider="cdse", profile="nope"))
