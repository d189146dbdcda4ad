"""Engine throughput: ``simulate`` end to end, the kernels alone, policies and threads.

Everything here runs the default synthetic book under ``adverse`` with the default model. Throughput
in nominal borrower-months per second is ``loans * paths * months / time``; the ratios CI holds to
floors are measured by ``benchmarks/gate.py`` in one process.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks import common
from simulator.engine.arrays import Book, Tables
from simulator.engine.layout import N_FLOWS, N_STOCKS
from simulator.engine.tables import build_tables
from simulator.states import STATES


class Throughput:
    """``simulate``, one scenario and the standard policy, all threads, by size.

    Combinations above ``common.MAX_NOMINAL`` borrower-months are skipped.
    """

    params = ((10_000, 100_000, 1_000_000), (24, 60), (1, 64, 1000))
    param_names = ("loans", "months", "paths")
    smoke_params = ((300,), (3,), (1, 2))
    timeout = 300.0
    warmup_time = 0.0

    def setup(self, loans: int, months: int, paths: int) -> None:
        common.skip_above(loans, paths, months)
        common.warm_up()
        self.book = common.book(loans)

    def time_simulate(self, loans: int, months: int, paths: int) -> None:
        common.run(self.book, common.STANDARD, paths=paths, months=months)


class Target:
    """The issue's headline figure: standard policy, ``adverse``, default synthetic book,
    24 months, default paths, all threads. Target at least 150 million; aim for 300 million."""

    params = ((100_000,), (1000,))
    param_names = ("loans", "paths")
    smoke_params = ((300,), (2,))
    timeout = 300.0
    months = 24
    unit = "million borrower-months/s"

    def setup(self, loans: int, paths: int) -> None:
        common.warm_up()
        self.book = common.book(loans)

    def track_borrower_months_per_second(self, loans: int, paths: int) -> float:
        start = time.perf_counter()
        common.run(self.book, common.STANDARD, paths=paths, months=self.months)
        return common.nominal(loans, paths, self.months) / (time.perf_counter() - start) / 1e6


class Policies:
    """The standard policy against every lever on (``benchmarks/every-lever.toml``)."""

    params = ((common.STANDARD, common.RICH), (100_000,), (64,))
    param_names = ("policy", "loans", "paths")
    smoke_params = ((common.STANDARD, common.RICH), (300,), (2,))
    warmup_time = 0.0

    def setup(self, policy: str, loans: int, paths: int) -> None:
        common.warm_up()
        self.book = common.book(loans)

    def time_simulate(self, policy: str, loans: int, paths: int) -> None:
        common.run(self.book, policy, paths=paths, months=24)


class Provisions:
    """A run that books IFRS 9 stages, the ECL allowance, categories and capital (SPEC 10)
    against one that does not; the ECL tables are built in ``setup`` (the first run of a
    process pays for them once per scenario and policy: ``time_table_build``)."""

    params = ((True, False), (100_000,), (64,))
    param_names = ("provisions", "loans", "paths")
    smoke_params = ((True, False), (300,), (2,))
    warmup_time = 0.0

    def setup(self, provisions: bool, loans: int, paths: int) -> None:
        common.warm_up()
        self.book = common.book(loans)
        common.run(self.book, common.STANDARD, paths=1, months=24, provisions=provisions)

    def time_simulate(self, provisions: bool, loans: int, paths: int) -> None:
        common.run(self.book, common.STANDARD, paths=paths, months=24, provisions=provisions)

    def time_table_build(self, provisions: bool, loans: int, paths: int) -> None:
        from simulator.run.blocks import clear_provisions_cache

        clear_provisions_cache()
        common.run(self.book, common.STANDARD, paths=1, months=24, provisions=provisions)


class NewLending:
    """The book alone (``run-off``) against the default treasury, whose new-lending plan (8% of
    the opening book a month, throttled by Z) adds new-loan cohorts that are simulated too."""

    params = (("run-off", "default"), (100_000,), (64,))
    param_names = ("treasury", "loans", "paths")
    smoke_params = (("run-off", "default"), (300,), (2,))
    warmup_time = 0.0

    def setup(self, treasury: str, loans: int, paths: int) -> None:
        common.warm_up()
        self.book = common.book(loans)

    def time_simulate(self, treasury: str, loans: int, paths: int) -> None:
        common.run(self.book, common.STANDARD, paths=paths, months=24, treasury=treasury)


class Threads:
    """One Numba thread against all of them, on the same run."""

    params = (tuple(sorted({1, common.ALL_THREADS})), (100_000,), (128,))
    param_names = ("threads", "loans", "paths")
    smoke_params = (tuple(sorted({1, common.ALL_THREADS})), (300,), (2,))
    warmup_time = 0.0

    def setup(self, threads: int, loans: int, paths: int) -> None:
        common.warm_up()
        self.book = common.book(loans)

    def time_simulate(self, threads: int, loans: int, paths: int) -> None:
        common.run(self.book, common.STANDARD, paths=paths, months=24, threads=threads)


class BoundShare:
    """The engine's share of its bound (issue #16): the throughput of ``simulate`` (standard
    policy, provisions and capital on, ``run-off``, all threads) over that of the bound kernel
    (``benchmarks/bound.py``) on the same book, tables, paths and months, interleaved rounds in
    one process (medians). The goal is at least 0.33; the gate holds a provisional floor."""

    params = ((200_000,), (256,))
    param_names = ("loans", "paths")
    smoke_params = ((300,), (2,))
    months = 24
    rounds = 3
    timeout = 600.0
    unit = "engine / bound throughput"

    def setup(self, loans: int, paths: int) -> None:
        common.warm_up()
        common.book(loans)  # built once per process, outside the measurement

    def track_share(self, loans: int, paths: int) -> float:
        from benchmarks.bound import measure

        return float(measure(loans, paths, self.months, self.rounds)["share"])


def kernel_inputs(loans: int, paths: int, months: int) -> tuple[Book, Tables]:
    """The kernels' inputs for one block of ``paths`` paths: the book and its tables."""
    tables = build_tables(
        common.model(),
        common.scenario(),
        common.policy(common.STANDARD),
        seed=0,
        paths=range(paths),
        horizon=months,
    )
    return Book.from_portfolio(common.book(loans)), tables


def accumulators(chunks: int, tables: Tables) -> tuple[np.ndarray, np.ndarray]:
    """Zeroed ``flows`` and ``stocks`` for one kernel call (see ``engine.layout``)."""
    B, H, G = tables.z.shape
    flows = np.zeros((chunks, B, H, G, N_FLOWS), np.int64)
    stocks = np.zeros((chunks, B, H, G, len(STATES), N_STOCKS), np.int64)
    return flows, stocks


class Kernel:
    """One kernel call on one block of paths, without tables or aggregation: the Numba engine
    (all threads, 4 chunks a thread as ``simulate`` uses) and the NumPy reference engine."""

    params = (("numba", "numpy"), (100_000,), (2, 64))
    param_names = ("engine", "loans", "paths")
    smoke_params = (("numba", "numpy"), (300,), (2,))
    months = 24
    warmup_time = 0.0
    timeout = 300.0

    def setup(self, engine: str, loans: int, paths: int) -> None:
        if engine == "numpy" and paths > 2:
            raise NotImplementedError("the reference engine runs one small block (4.7M/s)")
        common.warm_up()
        if engine == "numba":
            from simulator.engine.kernel_numba import run_block
        else:
            from simulator.engine.kernel_numpy import run_block
        self.run_block = run_block
        self.book, self.tables = kernel_inputs(loans, paths, self.months)
        self.flows, self.stocks = accumulators(4 * common.ALL_THREADS, self.tables)

    def time_run_block(self, engine: str, loans: int, paths: int) -> None:
        self.run_block(self.book, self.tables, self.flows, self.stocks)


class TableBuilding:
    """``build_tables`` for one block: the serial step between two kernel calls."""

    params = ((24, 60), (64,))
    param_names = ("months", "paths")
    smoke_params = ((3,), (2,))

    def setup(self, months: int, paths: int) -> None:
        common.warm_up()

    def time_build_tables(self, months: int, paths: int) -> None:
        build_tables(
            common.model(),
            common.scenario(),
            common.policy(common.STANDARD),
            seed=0,
            paths=range(paths),
            horizon=months,
        )
