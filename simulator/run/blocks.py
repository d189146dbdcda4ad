"""Stage 2 of ``simulate``: the blocks of paths, how one is computed, and where it lands.

The unit of work is a *block*: one scenario, one policy and a range of paths. A :class:`Plan`
cuts every (scenario, policy) into blocks of ``block_paths`` paths; :func:`simulate_block`
computes one from :class:`~simulator.run.inputs.RunInputs` alone (a pure function of them), so
the same function runs in this process or as a task on a Dask cluster (:func:`block_task`).
Blocks cover disjoint paths and hold integer totals at fixed path offsets: :class:`PathTotals`
takes them in any order with no arithmetic, so the result is the same bit for bit whatever ran
the blocks, in whatever order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields

import numpy as np

from simulator.errors import InputError
from simulator.provisions.tables import ProvisionTables
from simulator.run.inputs import RunInputs

BLOCK_PATHS = 64
"""Paths per kernel call: bounds the size of the tables (about 0.3 MB per path)."""

BlockKey = tuple[int, int, int]
"""(scenario index, policy index, first path) of a block."""


@dataclass(frozen=True)
class BlockResult:
    """Kernel totals of one block of paths, summed over chunks of loans."""

    flows: np.ndarray  # (B, H, G, F) int64
    stocks: np.ndarray  # (B, H, G, S, 2) int64
    z: np.ndarray  # (B, H, G) float64
    ledger: np.ndarray  # (B, H, L) int64: the provisions ledger, summed over segments and tiers
    rwa: np.ndarray  # (B, H) int64 fen: risk-weighted assets
    tier_loss: np.ndarray  # (B, G, T) int64 fen: net credit loss over the horizon by tier
    opening_allowance: np.ndarray  # () int64 fen: the allowance at the as-of date
    weight: np.ndarray  # (B,) float64: each path's likelihood ratio (tail sampling; else 1)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The arrays of a block, by name (as the run store saves them)."""
        return tuple(f.name for f in fields(cls))

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.names()}


@dataclass(frozen=True)
class Plan:
    """The blocks of a run: each (scenario, policy) cut into ranges of ``block_paths`` paths."""

    scenarios: tuple[str, ...]  # names, for the labels of the log and of errors
    policies: tuple[str, ...]
    paths: int
    block_paths: int

    @property
    def keys(self) -> list[BlockKey]:
        """Every block, scenario by scenario, policy by policy, in the order of their paths."""
        return [
            (s, p, first)
            for s in range(len(self.scenarios))
            for p in range(len(self.policies))
            for first in range(0, self.paths, self.block_paths)
        ]

    def paths_of(self, key: BlockKey) -> range:
        first = key[2]
        return range(first, min(first + self.block_paths, self.paths))

    def label(self, key: BlockKey) -> str:
        s, p, _ = key
        block = self.paths_of(key)
        return f"{self.scenarios[s]}/{self.policies[p]} paths {block.start}-{block.stop - 1}"


def plan_blocks(inputs: RunInputs, paths: int, block_paths: int) -> Plan:
    return Plan(
        scenarios=tuple(s.name for s in inputs.scenarios),
        policies=tuple(p.name for p in inputs.policies),
        paths=paths,
        block_paths=block_paths,
    )


class PathTotals:
    """The kernel totals of every (scenario, policy) for all paths, filled block by block.

    ``runs[(s, p)]`` holds the arrays of :class:`BlockResult` for every path of scenario s and
    policy p (the path axis first), the opening allowance once.
    """

    def __init__(self, plan: Plan, horizon: int, segments: int, tiers: int) -> None:
        from simulator.engine.layout import N_FLOWS, N_LEDGER, N_STOCKS
        from simulator.states import STATES

        paths = plan.paths
        shapes = {
            "flows": ((paths, horizon, segments, N_FLOWS), np.int64),
            "stocks": ((paths, horizon, segments, len(STATES), N_STOCKS), np.int64),
            "z": ((paths, horizon, segments), np.float64),
            "ledger": ((paths, horizon, N_LEDGER), np.int64),
            "rwa": ((paths, horizon), np.int64),
            "tier_loss": ((paths, segments, tiers), np.int64),
            "opening_allowance": ((), np.int64),
            "weight": ((paths,), np.float64),
        }
        self.plan = plan
        self.runs = {
            (s, p): {name: np.zeros(shape, dtype) for name, (shape, dtype) in shapes.items()}
            for s in range(len(plan.scenarios))
            for p in range(len(plan.policies))
        }

    def put(self, key: BlockKey, result: BlockResult) -> None:
        run = self.runs[key[:2]]
        at = slice(key[2], key[2] + len(result.z))
        for name, values in result.arrays().items():
            if name == "opening_allowance":  # the same in every block of the run
                run[name][...] = values
            else:
                run[name][at] = values

    def fits(self, key: BlockKey, result: BlockResult) -> bool:
        """Whether ``result`` has the shape of block ``key`` (a saved block may not)."""
        block = self.plan.paths_of(key)
        run = self.runs[key[:2]]
        return all(
            values.shape
            == (
                run[name].shape
                if name == "opening_allowance"
                else run[name][block.start : block.stop].shape
            )
            for name, values in result.arrays().items()
        )


def simulate_block(
    inputs: RunInputs,
    scenario: int,
    policy: int,
    paths: range,
    chunks: int,
    trace: np.ndarray | None = None,
) -> BlockResult:
    """Simulate paths ``paths`` of (scenario, policy) with the loans in ``chunks`` chunks.

    A pure function of its arguments; the result does not depend on ``chunks``. ``trace``
    (``engine.trace``): filled with the loan-months of the block's first paths.
    """
    from simulator.engine.layout import N_FLOWS, N_LEDGER, N_STOCKS, TIER_NET_CREDIT_LOSS
    from simulator.engine.tables import build_tables
    from simulator.provisions.capital import risk_weighted_assets
    from simulator.states import STATES

    provisions, opening_allowance = provisions_of(inputs, scenario, policy)
    tables = build_tables(
        inputs.model,
        inputs.scenarios[scenario],
        inputs.policies[policy],
        seed=inputs.seed,
        paths=paths,
        horizon=inputs.horizon,
        probits=inputs.probits[policy],
        levers=inputs.levers[policy],
        pool=inputs.pool,
        provisions=provisions,
        shift=inputs.shifts[scenario],
    )
    G, T = len(inputs.model.segments), len(inputs.model.tiers)
    S, H, B = len(STATES), inputs.horizon, len(paths)
    flows = np.zeros((chunks, B, H, G, N_FLOWS), np.int64)
    stocks = np.zeros((chunks, B, H, G, S, N_STOCKS), np.int64)
    ledger = np.zeros((chunks, B, H, G, T, N_LEDGER), np.int64)
    kernel(inputs.engine)(inputs.book, tables, flows, stocks, ledger, trace)
    by_tier = ledger.sum(axis=0)
    return BlockResult(
        flows=flows.sum(axis=0),
        stocks=stocks.sum(axis=0),
        z=tables.z,
        ledger=by_tier.sum(axis=(2, 3)),
        rwa=risk_weighted_assets(by_tier, inputs.capital, inputs.irb),
        tier_loss=by_tier[..., TIER_NET_CREDIT_LOSS].sum(axis=1),
        opening_allowance=np.array(opening_allowance, np.int64),
        weight=tables.weight,
    )


_PROVISIONS: dict[str, tuple[ProvisionTables, int]] = {}
PROVISIONS_CACHED = 4
"""ECL tables kept per process, keyed by what they are computed from (each some 50 MB): a run's
blocks come scenario by scenario and policy by policy; a Dask worker may see them in any order;
and a process that runs the same stress test again (a benchmark, a notebook) reuses them."""


def clear_provisions_cache() -> None:
    """Forget the ECL tables built so far (benchmarks time a first run with it)."""
    _PROVISIONS.clear()


def provisions_of(inputs: RunInputs, scenario: int, policy: int) -> tuple[ProvisionTables, int]:
    """The ECL tables of a (scenario, policy) and its opening allowance in fen, built once per
    process (a pure function of the inputs: any worker builds the same)."""
    from simulator.provisions.ecl import ecl_for_book, opening_ecl, provision_tables
    from simulator.provisions.tables import DISABLED

    if not inputs.provisions:
        return DISABLED, 0
    key = _provisions_key(inputs, scenario, policy)
    if key not in _PROVISIONS:
        ecl = ecl_for_book(
            inputs.model,
            inputs.scenarios[scenario],
            inputs.policies[policy],
            inputs.levers[policy],
            inputs.book,
            inputs.horizon,
            inputs.longest_term,
        )
        tables = provision_tables(ecl, inputs.model.provisions)
        while len(_PROVISIONS) >= PROVISIONS_CACHED:
            _PROVISIONS.pop(next(iter(_PROVISIONS)))
        _PROVISIONS[key] = (tables, int(opening_ecl(ecl, inputs.book).sum()))
    return _PROVISIONS[key]


def _provisions_key(inputs: RunInputs, scenario: int, policy: int) -> str:
    """A digest of everything the ECL tables and the opening allowance depend on."""
    book = inputs.book
    n = book.opening_loans
    digest = hashlib.sha256()
    parts = (inputs.model.text, inputs.scenarios[scenario].name, inputs.scenarios[scenario].text,
             repr(sorted(inputs.scenarios[scenario].anchors.items())),
             inputs.policies[policy].text, f"{inputs.horizon}/{inputs.longest_term}")  # fmt: skip
    for part in parts:
        digest.update(part.encode("utf-8") + b"\x00")
    for array in (book.segment, book.tier, book.principal, book.monthly_rate, book.state,
                  book.remaining_term, book.restructured, book.opening_stage):  # fmt: skip
        digest.update(np.ascontiguousarray(array[:n]).tobytes())
    return digest.hexdigest()


def chunk_count(chunks: int | None, threads: int, loans: int) -> int:
    """Chunks of loans per kernel call: as asked, else four per thread (at most one per loan)."""
    return chunks or max(1, min(4 * threads, loans))


def block_task(
    inputs: RunInputs, key: BlockKey, threads: int, *, plan: Plan, chunks: int | None
) -> BlockResult:
    """One block as a cluster task, with ``threads`` Numba threads (set in the calling thread)."""
    s, p, _ = key
    with numba_threads(threads if inputs.engine == "numba" else None) as n_threads:
        n_chunks = chunk_count(chunks, n_threads, len(inputs.book.principal))
        return simulate_block(inputs, s, p, plan.paths_of(key), n_chunks)


def kernel(engine: str) -> Callable[..., None]:
    if engine == "numba":
        from simulator.engine.kernel_numba import run_block
    else:
        from simulator.engine.kernel_numpy import run_block
    return run_block


@contextmanager
def numba_threads(threads: int | None) -> Iterator[int]:
    """Run with ``threads`` Numba threads (all cores if None); restores the setting after."""
    import numba

    previous = numba.get_num_threads()
    cores = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
    if threads is not None:
        if not 1 <= threads <= cores:
            raise InputError(None, f"threads must be from 1 to {cores}, got {threads}")
        numba.set_num_threads(threads)
    try:
        yield numba.get_num_threads()
    finally:
        numba.set_num_threads(previous)
