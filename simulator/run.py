"""``simulate``: inputs -> model tables -> kernel, block of paths by block -> Dataset.

The unit of work is a *block*: one scenario, one policy and a range of paths.
:func:`simulate_block` computes one from :class:`RunInputs` alone (a pure function of them), so
the same function runs in this process or as a task on a Dask cluster
(:mod:`simulator.distributed`), and a finished block can be saved and reused by a resumed run
(:mod:`simulator.runstore`). Blocks cover disjoint paths and hold integer totals at fixed path
offsets: assembling them needs no arithmetic, so the Dataset is the same bit for bit whatever
ran the blocks, in whatever order.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from simulator.errors import InputError
from simulator.inputs.model import Model, check_macro_variables, load_model
from simulator.inputs.policy import Policy, check_policy_against_model, load_policy
from simulator.inputs.portfolio import Portfolio, load_portfolio
from simulator.inputs.scenario import MAX_HORIZON, Scenario, load_scenario
from simulator.inputs.synthetic import synthetic_portfolio
from simulator.inputs.treasury import Treasury, load_treasury

if TYPE_CHECKING:
    from distributed import Client

    from simulator.engine.arrays import Book, Levers, Pool

log = logging.getLogger(__name__)

ENGINES = ("numba", "numpy")
DEFAULT_SCENARIOS = ("baseline", "adverse", "severe")
DEFAULT_SYNTHETIC_LOANS = 100_000
BLOCK_PATHS = 64
"""Paths per kernel call: bounds the size of the tables (about 0.3 MB per path)."""

Progress = Callable[[int, int], None]
"""Called with (blocks done, blocks in all) after each block (reused blocks count as done)."""

BlockKey = tuple[int, int, int]
"""(scenario index, policy index, first path) of a block."""


@dataclass(frozen=True)
class RunInputs:
    """What every block of a run reads: validated inputs, picklable, sent once to each worker."""

    book: Book  # the opening book and the candidate new loans
    pool: Pool
    model: Model
    scenarios: tuple[Scenario, ...]
    policies: tuple[Policy, ...]
    probits: tuple[np.ndarray, ...]  # base_probits(model, policy) per policy
    levers: tuple[Levers, ...]  # policy_levers(model, policy, book) per policy
    seed: int
    horizon: int
    engine: str


@dataclass(frozen=True)
class BlockResult:
    """Kernel totals of one block of paths, summed over chunks of loans."""

    flows: np.ndarray  # (B, H, G, F) int64
    stocks: np.ndarray  # (B, H, G, S, 2) int64
    z: np.ndarray  # (B, H, G) float64


def simulate_block(
    inputs: RunInputs, scenario: int, policy: int, paths: range, chunks: int
) -> BlockResult:
    """Simulate paths ``paths`` of (scenario, policy) with the loans in ``chunks`` chunks.

    A pure function of its arguments; the result does not depend on ``chunks``.
    """
    from simulator.engine.layout import N_FLOWS, N_STOCKS
    from simulator.engine.tables import build_tables
    from simulator.states import STATES

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
    )
    G, S, H = len(inputs.model.segments), len(STATES), inputs.horizon
    flows = np.zeros((chunks, len(paths), H, G, N_FLOWS), np.int64)
    stocks = np.zeros((chunks, len(paths), H, G, S, N_STOCKS), np.int64)
    _kernel(inputs.engine)(inputs.book, tables, flows, stocks)
    return BlockResult(flows=flows.sum(axis=0), stocks=stocks.sum(axis=0), z=tables.z)


def simulate(
    portfolio: Portfolio | str | Path | int | None = None,
    scenarios: Sequence[str | Path | Scenario] = DEFAULT_SCENARIOS,
    policies: Sequence[str | Path | Policy] = ("standard",),
    *,
    model: str | Path | Model = "default",
    treasury: str | Path | Treasury = "default",
    paths: int = 1000,
    horizon: int | None = None,
    seed: int = 0,
    engine: str = "numba",
    threads: int | None = None,
    chunks: int | None = None,
    block_paths: int = BLOCK_PATHS,
    progress: Progress | None = None,
    client: Client | None = None,
    run_dir: str | Path | None = None,
    resume: bool = False,
) -> xr.Dataset:
    """Simulate the book under every scenario and policy; return the Dataset of SPEC 6.

    ``portfolio``: a :class:`Portfolio`, a path to a loan tape, a number of synthetic loans, or
    None for the embedded default (100,000 synthetic loans, seed 0). ``horizon`` defaults to the
    longest scenario horizon. Results depend only on the inputs and ``seed``: not on ``threads``,
    ``chunks``, ``block_paths``, ``engine`` or ``client``.

    ``client``: a ``distributed.Client``; the blocks of ``block_paths`` paths then run as tasks
    on its cluster (``threads`` is then Numba threads per worker process, by default the host's
    cores shared among the worker processes on it).

    ``run_dir``: a directory where each finished block is saved, with a manifest of the inputs.
    With ``resume=True``, blocks already there from an interrupted run of the same inputs are
    reused and only the others are computed; different inputs raise :class:`InputError`. An
    existing ``run_dir`` without ``resume`` is an error. Remove the directory once the result is
    saved (the CLI does).
    """
    from simulator import __version__
    from simulator.aggregate import RunTotals, build_dataset
    from simulator.engine.arrays import Book
    from simulator.engine.cohorts import new_lending_pool
    from simulator.engine.layout import N_FLOWS, N_STOCKS
    from simulator.engine.levers import policy_levers
    from simulator.engine.tables import base_probits
    from simulator.liquidity import funding_spread
    from simulator.states import STATES

    if engine not in ENGINES:
        raise InputError(None, f"unknown engine '{engine}': expected one of {', '.join(ENGINES)}")
    if paths < 1:
        raise InputError(None, f"paths must be at least 1, got {paths}")
    if block_paths < 1:
        raise InputError(None, f"block_paths must be at least 1, got {block_paths}")
    if not 0 <= seed < 2**64:
        raise InputError(None, f"seed must be a whole number from 0 to 2**64 - 1, got {seed}")
    if resume and run_dir is None:
        raise InputError(None, "resume needs a run directory (run_dir) to resume from")
    model = model if isinstance(model, Model) else load_model(model)
    treasury = treasury if isinstance(treasury, Treasury) else load_treasury(treasury)
    book = _portfolio(portfolio, model)
    scenario_list = [s if isinstance(s, Scenario) else load_scenario(s) for s in scenarios]
    policy_list = [p if isinstance(p, Policy) else load_policy(p) for p in policies]
    _check_unique([s.name for s in scenario_list], "scenario")
    _check_unique([p.name for p in policy_list], "policy")
    for scenario in scenario_list:
        check_macro_variables(model, set(scenario.variables), scenario.source)
    for policy in policy_list:
        check_policy_against_model(policy, model)
    horizon = max(s.horizon for s in scenario_list) if horizon is None else horizon
    if not 1 <= horizon <= MAX_HORIZON:
        raise InputError(None, f"horizon must be from 1 to {MAX_HORIZON} months, got {horizon}")
    start = _common_start(scenario_list)

    pool = new_lending_pool(book, treasury, horizon, seed)
    kernel_book = Book.from_portfolio(book, pool)
    inputs = RunInputs(
        book=kernel_book,
        pool=pool,
        model=model,
        scenarios=tuple(scenario_list),
        policies=tuple(policy_list),
        probits=tuple(base_probits(model, p) for p in policy_list),
        levers=tuple(policy_levers(model, p, kernel_book) for p in policy_list),
        seed=seed,
        horizon=horizon,
        engine=engine,
    )
    blocks = [range(a, min(a + block_paths, paths)) for a in range(0, paths, block_paths)]
    keys: list[BlockKey] = [
        (s, p, b.start)
        for s in range(len(scenario_list))
        for p in range(len(policy_list))
        for b in blocks
    ]
    G, S = len(model.segments), len(STATES)
    runs = {
        (s, p): (
            np.zeros((paths, horizon, G, N_FLOWS), np.int64),
            np.zeros((paths, horizon, G, S, N_STOCKS), np.int64),
            np.zeros((paths, horizon, G)),
        )
        for s in range(len(scenario_list))
        for p in range(len(policy_list))
    }

    def label(key: BlockKey) -> str:
        s, p, first = key
        last = min(first + block_paths, paths) - 1
        return f"{scenario_list[s].name}/{policy_list[p].name} paths {first}-{last}"

    def put(key: BlockKey, result: BlockResult) -> None:
        flows, stocks, z = runs[key[:2]]
        at = slice(key[2], key[2] + len(result.z))
        flows[at], stocks[at], z[at] = result.flows, result.stocks, result.z

    store = None
    if run_dir is not None:
        from simulator.runstore import RunStore, manifest

        store = RunStore.open(
            Path(run_dir),
            manifest(
                book_sha256=book.sha256,
                model=model,
                treasury=treasury,
                scenarios=scenario_list,
                policies=policy_list,
                seed=seed,
                paths=paths,
                horizon=horizon,
                block_paths=block_paths,
                version=__version__,
            ),
            resume=resume,
        )
    todo = keys
    if store is not None:

        def fits(key: BlockKey, result: BlockResult) -> bool:
            flows, stocks, z = (a[key[2] : key[2] + block_paths] for a in runs[key[:2]])
            return (result.flows.shape, result.stocks.shape, result.z.shape) == (
                flows.shape,
                stocks.shape,
                z.shape,
            )

        reused = store.load_finished(keys, fits)
        for key, result in reused.items():
            put(key, result)
        todo = [key for key in keys if key not in reused]
        if reused:
            log.info("reused %d finished blocks from %s", len(reused), store.directory)
    done, total = len(keys) - len(todo), len(keys)
    if progress is not None and done:
        progress(done, total)

    def finished(key: BlockKey, result: BlockResult) -> None:
        nonlocal done
        put(key, result)
        if store is not None:
            store.save(key, result)
        log.info("computed block %s", label(key))
        done += 1
        if progress is not None:
            progress(done, total)

    if client is None:
        with _numba_threads(threads if engine == "numba" else None) as n_threads:
            n_chunks = chunks or max(1, min(4 * n_threads, len(book)))
            for key in todo:
                s, p, first = key
                block = range(first, min(first + block_paths, paths))
                finished(key, simulate_block(inputs, s, p, block, n_chunks))
    else:
        from simulator.distributed import run_blocks

        task = partial(_block_task, block_paths=block_paths, paths=paths, chunks=chunks)
        run_blocks(client, task, inputs, todo, finished, threads=threads, label=label)

    totals = {}
    for s, scenario in enumerate(scenario_list):
        for p, policy in enumerate(policy_list):
            flows, stocks, z = runs[(s, p)]
            totals[(scenario.name, policy.name)] = RunTotals(
                flows=flows,
                stocks=stocks,
                z=z,
                collection_cost_per_account=round(
                    policy.collections.cost_per_account * policy.collections.intensity * 100
                ),
                operating_cost_per_account=round(treasury.operating_cost_per_account * 100),
            )

    attrs = {
        "title": "portfolio stress simulation",
        "units": "CNY",
        "seed": str(seed),
        "paths": paths,
        "horizon": horizon,
        "engine": engine,
        "simulator_version": __version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "portfolio_source": book.source,
        "portfolio_sha256": book.sha256,
        "portfolio_loans": len(book),
        "model_file": model.text,
        "treasury_file": treasury.text,
        **{f"scenario_file_{s.name}": s.text for s in scenario_list},
        **{f"policy_file_{p.name}": p.text for p in policy_list},
    }
    return build_dataset(
        totals,
        scenarios=[s.name for s in scenario_list],
        policies=[p.name for p in policy_list],
        segments=model.segment_names,
        start=pd.Timestamp(start),
        segment_opening_fen=book.segment_principal,
        treasury=treasury,
        spreads={s.name: funding_spread(s, horizon) for s in scenario_list},
        attrs=attrs,
    )


def _block_task(
    inputs: RunInputs,
    key: BlockKey,
    threads: int,
    *,
    block_paths: int,
    paths: int,
    chunks: int | None,
) -> BlockResult:
    """One block as a cluster task, with ``threads`` Numba threads (set in the calling thread)."""
    s, p, first = key
    with _numba_threads(threads if inputs.engine == "numba" else None) as n_threads:
        n_chunks = chunks or max(1, min(4 * n_threads, len(inputs.book.principal)))
        return simulate_block(inputs, s, p, range(first, min(first + block_paths, paths)), n_chunks)


def _portfolio(portfolio: Portfolio | str | Path | int | None, model: Model) -> Portfolio:
    if portfolio is None:
        return synthetic_portfolio(DEFAULT_SYNTHETIC_LOANS, seed=0, model=model)
    if isinstance(portfolio, int):
        return synthetic_portfolio(portfolio, seed=0, model=model)
    if isinstance(portfolio, Portfolio):
        if portfolio.segment_names != model.segment_names or (
            portfolio.tier_names != model.tier_names
        ):
            raise InputError(
                None,
                f"the portfolio was coded with segments {portfolio.segment_names} and tiers "
                f"{portfolio.tier_names}, but model '{model.name}' has {model.segment_names} "
                f"and {model.tier_names}: load the portfolio with the same model",
            )
        return portfolio
    return load_portfolio(portfolio, model=model)


def _check_unique(names: list[str], what: str) -> None:
    if not names:
        raise InputError(None, f"at least one {what} is required")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(None, f"{what} named more than once: {', '.join(repeated)}")


def _common_start(scenarios: list[Scenario]) -> dt.date:
    starts = {s.start for s in scenarios}
    if len(starts) > 1:
        listing = ", ".join(f"{s.name} {s.start:%Y-%m}" for s in scenarios)
        raise InputError(None, f"scenarios in one run must start in the same month: {listing}")
    return starts.pop()


def _kernel(engine: str) -> Callable[..., None]:
    if engine == "numba":
        from simulator.engine.kernel_numba import run_block
    else:
        from simulator.engine.kernel_numpy import run_block
    return run_block


@contextmanager
def _numba_threads(threads: int | None) -> Iterator[int]:
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
