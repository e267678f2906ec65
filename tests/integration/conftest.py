"""A small generated scene and a pipeline over it, shared by the integration tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from shapely.geometry import mapping

from tests.helpers import write_aoi, write_pipeline


@pytest.fixture(scope="session")
def small_scene(tmp_path_factory):
    """A 128 px (1.28 km) Séguéla-like scene over 2024, with known truth."""
    from geomon.sample import generate_scene

    root = tmp_path_factory.mktemp("scene") / "seguela-128"
    return generate_scene(root, scenario="seguela", seed=3, size=128,
                          start="2024-01-01", end="2024-12-31")


@pytest.fixture
def scene_pipeline(small_scene, tmp_path):
    """Factory: a pipeline file over ``small_scene`` with an AOI matching its footprint."""
    from geomon.sample import scene_footprint

    def make(name: str = "scene", **overrides) -> Path:
        footprint = scene_footprint(small_scene.scenario, small_scene.size).buffer(-0.0002)
        write_aoi(tmp_path / "aoi", "scene", geometry=mapping(footprint))
        defaults = {"aoi": "scene", "aoi_dir": "aoi",
                    "source": {"kind": "stac", "catalog": str(small_scene.catalog),
                               "max_cloud_cover": 100},
                    "estimate": {"enabled": False}}
        defaults.update(overrides)
        return write_pipeline(tmp_path, name, **defaults)

    return make


#: Exit codes of a run that finished: 0, or 3 when some period was degraded (the small scene's
#: wet-season quarter usually is). test_cli_run checks which one applies.
RUN_OK = (0, 3)


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run ``geomon ARGS`` in-process; returns (exit code, stdout, stderr)."""
    from geomon.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["geomon", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())
