"""Where dask runs the work: an existing ``dask.distributed`` scheduler, or this machine's threads.

Every step of the pipeline is lazy until one :func:`dask.compute` call (DESIGN.md section 1), so
the same code runs on either. :func:`dask_client` picks the scheduler:

1. the ``address`` argument (``geomon run --scheduler``), else
2. the ``DASK_SCHEDULER_ADDRESS`` environment variable, else
3. ``fallback`` (a pipeline file's ``compute.scheduler``), else
4. whatever scheduler the caller already set up (an outer :func:`dask_client`, a default
   ``Client``, ``dask.config.set(scheduler=...)``): left as it is, so nesting is safe, else
5. dask's local threaded scheduler with one thread per CPU.

With an address, a :class:`dask.distributed.Client` is connected and made the default, so any
``dask.compute`` inside the block runs on that cluster's workers; it is closed afterwards and the
previous scheduler setting comes back. The address can be any the ``Client`` accepts:
``tcp://HOST:8786`` (``dask scheduler``, a ``LocalCluster``, a Kubernetes ``DaskCluster``
service) or ``tls://HOST:8786`` (TLS options from dask's ``distributed.comm.tls`` config).

Examples
--------
>>> with dask_client("tcp://10.0.0.5:8786") as client:   # doctest: +SKIP
...     result = run_pipeline("pipelines/seguela.yaml")
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dask

from geomon.errors import GeomonError
from geomon.logs import redact_userinfo

if TYPE_CHECKING:  # importing distributed costs ~0.5 s; only needed with an address
    from distributed import Client

log = logging.getLogger(__name__)

__all__ = [
    "ENV_VAR",
    "SchedulerChoice",
    "active_client",
    "choose_scheduler",
    "dask_client",
    "scheduler_summary",
]

#: Environment variable naming a scheduler address (the same name dask's own config reads).
ENV_VAR = "DASK_SCHEDULER_ADDRESS"


@dataclass(frozen=True)
class SchedulerChoice:
    """Which scheduler a run uses, and why.

    Attributes
    ----------
    address
        Scheduler address, or None for a local scheduler.
    origin
        ``argument``, ``environment``, ``pipeline`` or ``local``.
    """

    address: str | None
    origin: str

    @property
    def redacted(self) -> str | None:
        """The address with any user info masked (safe to log or write to a manifest)."""
        return None if self.address is None else redact_userinfo(self.address)


def choose_scheduler(address: str | None = None, *, fallback: str | None = None
                     ) -> SchedulerChoice:
    """The scheduler address to use: argument, then environment, then ``fallback``, else none.

    Blank strings count as not given.
    """
    for value, origin in ((address, "argument"), (os.environ.get(ENV_VAR), "environment"),
                          (fallback, "pipeline")):
        if value is not None and value.strip():
            return SchedulerChoice(value.strip(), origin)
    return SchedulerChoice(None, "local")


@contextmanager
def dask_client(address: str | None = None, *, processes: bool = False,
                fallback: str | None = None, timeout: float | None = None,
                ) -> Iterator[Client | None]:
    """Run the block's dask computations on a cluster, or on this machine.

    Parameters
    ----------
    address
        Scheduler address (``tcp://HOST:PORT``, ``tls://HOST:PORT``, ...); None: take
        ``DASK_SCHEDULER_ADDRESS`` from the environment, then ``fallback``.
    processes
        Without an address only: use dask's multiprocessing scheduler instead of threads (for
        work that holds the GIL; geomon's steps are NumPy/GDAL and release it, so threads are
        the default).
    fallback
        Address used when neither ``address`` nor the environment gives one (a pipeline file's
        ``compute.scheduler``).
    timeout
        Seconds to wait for the scheduler; default dask's ``distributed.comm.timeouts.connect``.

    Yields
    ------
    Client or None
        The connected client (the default for ``dask.compute`` inside the block), the client
        already in use when no address is given inside an outer one, or None when a local
        scheduler is used.

    Raises
    ------
    GeomonError
        The scheduler cannot be reached; the message names the address (user info masked).
    """
    choice = choose_scheduler(address, fallback=fallback)
    if choice.address is None and dask.config.get("scheduler", None) is not None:
        # the caller already chose (an outer dask_client, a Client, dask.config.set): keep it
        active = active_client()
        log.info("dask: keeping the scheduler already in use (%s)",
                 scheduler_summary(active)["scheduler"])
        yield active
        return
    if choice.address is None:
        kind = "processes" if processes else "threads"
        workers = os.cpu_count() or 1
        log.info("dask: local %s scheduler, %d workers", kind, workers)
        with dask.config.set(scheduler=kind, num_workers=workers):
            yield None
        return

    from distributed import Client

    shown = choice.redacted
    kwargs: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    try:
        # not set_as_default: a Client that fails to connect would leave dask pointed at it
        client = Client(choice.address, set_as_default=False, **kwargs)
    except (OSError, TimeoutError, ValueError) as exc:
        raise GeomonError(
            f"cannot connect to dask scheduler {shown} ({choice.origin}): "
            f"{_without_userinfo(str(exc), choice.address)[:300]}",
            field="--scheduler" if choice.origin == "argument" else (
                ENV_VAR if choice.origin == "environment" else "compute.scheduler"),
            expected="the address of a running scheduler, e.g. tcp://HOST:8786",
        ) from None
    try:
        summary = scheduler_summary(client)
        log.info("dask: scheduler %s (%s), %d workers, %d threads", shown, choice.origin,
                 summary["workers"], summary["threads"])
        if not summary["workers"]:
            log.warning("dask scheduler %s has no workers yet: the run waits until one joins",
                        shown)
        # every dask.compute in the block, from any thread, runs on this client
        with dask.config.set(scheduler=client):
            yield client
    finally:
        client.close()


def _without_userinfo(text: str, address: str) -> str:
    """``text`` with the user info of ``address`` masked, with or without its scheme around it."""
    rest = address.split("://", 1)[-1]
    host_part = rest.split("/", 1)[0]
    if "@" in host_part:
        text = text.replace(host_part.rsplit("@", 1)[0] + "@", "***@")
    return redact_userinfo(text)


def active_client() -> Client | None:
    """The distributed client dask is configured to use, if any and it is running."""
    configured = dask.config.get("scheduler", None)
    if configured is not None and type(configured).__name__ == "Client":
        return configured  # set by dask_client (or dask.config.set(scheduler=client))
    if configured != "dask.distributed":
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:  # configured, but no client is running
        return None


def scheduler_summary(client: Client | None = None) -> dict[str, Any]:
    """Where dask computations run now, for a run's manifest (no credentials).

    Parameters
    ----------
    client
        A connected client; default: the current default client if one is active (inside
        :func:`dask_client` with an address), else the local scheduler settings.

    Returns
    -------
    dict
        ``{"scheduler": "threads" | "processes" | <address, user info masked>, "workers": n,
        "threads": n}``.
    """
    client = client or active_client()
    if client is None:
        scheduler = dask.config.get("scheduler", None) or "threads"
        n = dask.config.get("num_workers", None) or os.cpu_count() or 1
        return {"scheduler": str(scheduler), "workers": 1 if scheduler == "threads" else n,
                "threads": n}
    nthreads = client.nthreads()  # {worker address: threads}, every worker
    return {
        "scheduler": redact_userinfo(str(client.scheduler.address)),
        "workers": len(nthreads),
        "threads": sum(int(n) for n in nthreads.values()),
    }
