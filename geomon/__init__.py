"""geomon: satellite monitoring of artisanal diamond mining for Kimberley Process assessments.

The public surface is small; everything else lives in modules named for what they do.
"""

from __future__ import annotations

from geomon.aoi import AOI, load_aoi
from geomon.config import Pipeline, load_pipeline
from geomon.errors import GeomonError

__all__ = ["AOI", "GeomonError", "Pipeline", "__version__", "load_aoi", "load_pipeline",
           "run_pipeline"]

__version__ = "0.1.0"


def run_pipeline(path, **kwargs):
    """Run a pipeline file (see :func:`geomon.pipeline.run_pipeline`)."""
    from geomon.pipeline import run_pipeline as _run

    return _run(path, **kwargs)
