"""Blocks of paths as tasks on a Dask cluster (``distributed``): the scale-out of SPEC 8.

This layer knows nothing of the model or of xarray. :func:`run_blocks` sends the run's shared
inputs to the workers once (``scatter``, broadcast), submits one task per block key, and hands
each result to a callback in the client as it arrives; the caller stores it at the block's fixed
place, so the order in which tasks finish changes nothing. When a worker dies, the scheduler
reruns its tasks on the others (Dask's ``distributed.scheduler.allowed-failures`` times); a task
is a pure function of its inputs, so the result is the same. If every copy of the shared inputs
is lost (all workers gone at once), they are sent again and the unfinished blocks resubmitted.

Threads: each worker process runs one Numba-parallel kernel at a time (a per-process lock), with
``cores // worker processes on the host`` Numba threads unless told otherwise. Dask workers with
several threads would otherwise launch parallel kernels concurrently, which oversubscribes the
cores and which Numba's ``workqueue`` threading layer does not support (it aborts the process;
numbagg's ``_is_in_unsafe_thread_pool`` guards against the same thing by dropping to serial).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from simulator.errors import InputError

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

K = TypeVar("K")
R = TypeVar("R")
S = TypeVar("S")

RESCATTER_ATTEMPTS = 3
"""How many times the shared inputs are sent again when every copy of them was lost."""

_KERNEL_LOCK = threading.Lock()
"""One kernel at a time per worker process (see the module docstring)."""


def run_blocks(
    client: Client,
    task: Callable[[S, K, int], R],
    shared: S,
    keys: Sequence[K],
    on_result: Callable[[K, R], None],
    *,
    threads: int | None = None,
    label: Callable[[K], str] = str,
) -> None:
    """Run ``task(shared, key, numba_threads) -> result`` for every key on ``client``'s cluster.

    ``on_result(key, result)`` is called in this process as each task finishes (in completion
    order). ``threads``: Numba threads per task; None shares each host's cores among the worker
    processes on it. Unfinished tasks are cancelled if this function is interrupted.
    """
    if not keys:
        return
    from distributed import CancelledError, as_completed

    from simulator import __version__

    token = uuid.uuid4().hex[:12]
    remaining = list(keys)
    for attempt in range(RESCATTER_ATTEMPTS + 1):
        if not client.nthreads():
            log.warning("the Dask cluster has no workers: waiting for one")
            client.wait_for_workers(1)
        processes = dict(Counter(_host(address) for address in client.nthreads()))
        [shared_future] = client.scatter([shared], broadcast=True, hash=False)
        pending = {
            client.submit(
                _on_worker,
                task,
                shared_future,
                key,
                threads,
                processes,
                __version__,
                key=f"simulator-block-{token}-{attempt}-{i}",
            ): key
            for i, key in enumerate(remaining)
        }
        try:
            for future in as_completed(list(pending)):
                try:
                    result = future.result()  # raises the task's own error, if any
                except CancelledError:
                    continue  # its shared inputs were lost with the workers: submitted again
                on_result(pending.pop(future), result)
                future.release()  # a finished block is not recomputed if its worker dies
        finally:
            client.cancel([*pending, shared_future])
        remaining = list(pending.values())
        if not remaining:
            return
        log.warning(
            "%d blocks were cancelled by the scheduler (every copy of the shared inputs was "
            "lost with the workers holding them): sending them again",
            len(remaining),
        )
    raise RuntimeError(
        f"the shared inputs were lost {RESCATTER_ATTEMPTS + 1} times; "
        f"{len(remaining)} blocks unfinished (first: {label(remaining[0])})"
    )


def _host(address: str) -> str:
    from distributed.comm.addressing import get_address_host

    return get_address_host(address)


def _on_worker(
    task: Callable[[S, K, int], R],
    shared: S,
    key: K,
    threads: int | None,
    processes: dict[str, int],
    version: str,
) -> R:
    """Runs on a worker: check the version, choose the Numba threads, run under the lock."""
    import numba
    from distributed import get_worker

    from simulator import __version__

    worker = get_worker()
    if version != __version__:
        raise RuntimeError(
            f"worker {worker.address} has simulator {__version__} but the client has {version}: "
            "install the same version on every worker"
        )
    if threads is None:
        cores = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
        threads = max(1, cores // processes.get(_host(worker.address), 1))
    with _KERNEL_LOCK:
        return task(shared, key, threads)


@contextmanager
def cluster_client(
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    dashboard: bool = True,
    say: Callable[[str], None] = log.info,
) -> Iterator[Client]:
    """A client of a new ``LocalCluster`` of ``workers`` processes (loopback only, one thread
    each), or of the existing cluster whose scheduler is at ``scheduler``; closed on exit.

    ``say`` is told the cluster's address and dashboard. ``dashboard=False`` serves the new
    cluster's dashboard on any free port and does not tell (for tests and benchmarks).
    """
    from distributed import Client, LocalCluster

    if (workers is None) == (scheduler is None):
        raise ValueError("give exactly one of workers and scheduler")
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="15s")
        except (OSError, TimeoutError, ValueError) as err:
            raise InputError(
                None, f"cannot connect to the Dask scheduler at {scheduler}: {err}"
            ) from None
        with client:
            n = len(client.nthreads())
            say(f"Dask cluster at {scheduler}: {n} workers, dashboard {client.dashboard_link}")
            yield client
        return
    if workers is None or workers < 1:
        raise InputError(None, f"workers must be at least 1, got {workers}")
    cluster_options: dict[str, Any] = {
        "n_workers": workers,
        "threads_per_worker": 1,
        "processes": True,
        "host": "127.0.0.1",
        # Dask's usual port (or a free one if it is taken)
        "dashboard_address": "127.0.0.1:8787" if dashboard else "127.0.0.1:0",
    }
    with LocalCluster(**cluster_options) as cluster, Client(cluster) as client:
        if dashboard:
            say(f"Dask dashboard: {client.dashboard_link}{_bokeh_note()}")
        yield client


def _bokeh_note() -> str:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return " (install bokeh>=3.1 to see the task stream and progress pages there)"
    return ""
