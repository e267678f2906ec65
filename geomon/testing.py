"""Helpers the tests share, shipped with the package so downstream users can test with them too."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import dask

__all__ = ["free_port", "raise_if_dask_computes"]


class _CountingScheduler:
    """A dask scheduler that counts calls and refuses more than ``max_computes``."""

    def __init__(self, max_computes: int) -> None:
        self.total = 0
        self.max_computes = max_computes

    def __call__(self, dsk, keys, **kwargs):
        self.total += 1
        if self.total > self.max_computes:
            raise RuntimeError(
                f"Too many dask computations were triggered: {self.total} > {self.max_computes}"
            )
        return dask.get(dsk, keys, **kwargs)


@contextmanager
def raise_if_dask_computes(max_computes: int = 0) -> Iterator[_CountingScheduler]:
    """Fail if the block computes a dask graph more than ``max_computes`` times.

    Like xarray's own test helper: wrap a step that must stay lazy.

    Examples
    --------
    >>> with raise_if_dask_computes():        # doctest: +SKIP
    ...     composite = period_composites(cube, clear, periods, bands=["red"])
    """
    scheduler = _CountingScheduler(max_computes)
    with dask.config.set(scheduler=scheduler):
        yield scheduler


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
