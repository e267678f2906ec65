"""Pre-flight check of every asset before a load: can it be opened, is it complete?

Opening reads the header (IFDs); reading the last full-resolution block proves the end of the
file is there, which catches a truncated COG that would otherwise only fail halfway through a
computation. Both go through GDAL with the retry policy's options, so 429/5xx answers are
retried with backoff before an asset is given up.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import rasterio
from rasterio.windows import Window

from geomon.sources._redact import redact

log = logging.getLogger("geomon.sources")

__all__ = ["Probe", "probe_all", "probe_url"]


@dataclass(frozen=True)
class Probe:
    """One asset to check: its URL and who it belongs to."""

    url: str
    item_id: str
    asset: str
    datetime: str


def probe_url(url: str, gdal_options: dict[str, str]) -> str | None:
    """``None`` if ``url`` opens and its last block reads, else the reason it does not."""
    stage = "cannot open"
    try:
        with rasterio.Env(**gdal_options), rasterio.open(url) as src:
            stage = "cannot read the last block (truncated or damaged file?)"
            bh, bw = src.block_shapes[0]
            nx, ny = math.ceil(src.width / bw), math.ceil(src.height / bh)
            x0, y0 = (nx - 1) * bw, (ny - 1) * bh
            window = Window(x0, y0, src.width - x0, src.height - y0)
            src.read(src.count, window=window)
    except (rasterio.errors.RasterioError, OSError) as exc:
        causes = [str(e) for e in (exc, exc.__cause__, exc.__context__) if e is not None]
        detail = "; ".join(dict.fromkeys(c for c in causes if c))
        return redact(f"{stage}: {detail or type(exc).__name__}")
    return None


def probe_all(probes: Iterable[Probe], gdal_options: dict[str, str], *, workers: int = 8
              ) -> dict[Probe, str]:
    """The probes that failed, each with its reason (checked ``workers`` at a time)."""
    todo = list(probes)
    if not todo:
        return {}
    with ThreadPoolExecutor(max_workers=min(workers, len(todo))) as pool:
        reasons = list(pool.map(lambda p: probe_url(p.url, gdal_options), todo))
    return {p: r for p, r in zip(todo, reasons, strict=True) if r is not None}
