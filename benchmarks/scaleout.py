"""Dask against in-process: the same run as blocks of paths on a local cluster (SPEC 8).

The cluster has one single-threaded worker process per core, so both sides use every core;
the difference is the cost of scattering the book, scheduling the blocks and gathering results.
Cluster start-up and the workers' first kernel call happen in ``setup``, outside the timing.
The full-scale overhead measurement (10 billion borrower-months) is
``benchmarks/dask_overhead.py``.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from benchmarks import common
from simulator.run import simulate


class Dask:
    """``simulate`` in this process (all threads) and on a ``LocalCluster`` of all cores."""

    params = (("in-process", "dask"), (100_000,), (256,))
    param_names = ("where", "loans", "paths")
    smoke_params = (("in-process", "dask"), (300,), (2,))
    timeout = 300.0
    warmup_time = 0.0

    def setup(self, where: str, loans: int, paths: int) -> None:
        common.warm_up()
        self.book = common.book(loans)
        self.client: Any = None
        self.stack = ExitStack()
        if where == "dask":
            from simulator.run.distributed import cluster_client

            self.client = self.stack.enter_context(
                cluster_client(workers=common.ALL_THREADS, dashboard=False)
            )
            # every worker compiles (or loads) the kernels before the timing
            self.client.run(simulate, 200, [common.SCENARIO], paths=2, horizon=3)

    def teardown(self, where: str, loans: int, paths: int) -> None:
        self.stack.close()

    def time_simulate(self, where: str, loans: int, paths: int) -> None:
        common.run(self.book, paths=paths, months=24, client=self.client)
