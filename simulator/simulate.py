"""``simulate``: inputs -> model tables -> kernel, block of paths by block -> Dataset."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

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

ENGINES = ("numba", "numpy")
DEFAULT_SCENARIOS = ("baseline", "adverse", "severe")
DEFAULT_SYNTHETIC_LOANS = 100_000
BLOCK_PATHS = 64
"""Paths per kernel call: bounds the size of the tables (about 0.3 MB per path)."""

Progress = Callable[[int, int], None]
"""Called with (blocks done, blocks in all) after each kernel call."""


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
) -> xr.Dataset:
    """Simulate the book under every scenario and policy; return the Dataset of SPEC 6.

    ``portfolio``: a :class:`Portfolio`, a path to a loan tape, a number of synthetic loans, or
    None for the embedded default (100,000 synthetic loans, seed 0). ``horizon`` defaults to the
    longest scenario horizon. Results depend only on the inputs and ``seed``: not on ``threads``,
    ``chunks``, ``block_paths`` or ``engine``.
    """
    from simulator import __version__
    from simulator.aggregate import RunTotals, build_dataset
    from simulator.engine.layout import N_FLOWS, N_STOCKS
    from simulator.engine.tables import Book, base_probits, build_tables
    from simulator.states import STATES

    if engine not in ENGINES:
        raise InputError(None, f"unknown engine '{engine}': expected one of {', '.join(ENGINES)}")
    if paths < 1:
        raise InputError(None, f"paths must be at least 1, got {paths}")
    if not 0 <= seed < 2**64:
        raise InputError(None, f"seed must be a whole number from 0 to 2**64 - 1, got {seed}")
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

    kernel = _kernel(engine)
    kernel_book = Book.from_portfolio(book)
    blocks = [range(a, min(a + block_paths, paths)) for a in range(0, paths, block_paths)]
    done, total = 0, len(blocks) * len(scenario_list) * len(policy_list)
    G, S = len(model.segments), len(STATES)
    totals = {}
    with _numba_threads(threads if engine == "numba" else None) as n_threads:
        n_chunks = chunks or max(1, min(4 * n_threads, len(book)))
        for scenario in scenario_list:
            for policy in policy_list:
                probits = base_probits(model, policy)
                flows = np.zeros((paths, horizon, G, N_FLOWS), np.int64)
                stocks = np.zeros((paths, horizon, G, S, N_STOCKS), np.int64)
                z = np.zeros((paths, horizon, G))
                for block in blocks:
                    tables = build_tables(
                        model,
                        scenario,
                        policy,
                        seed=seed,
                        paths=block,
                        horizon=horizon,
                        probits=probits,
                    )
                    block_flows = np.zeros((n_chunks, len(block), horizon, G, N_FLOWS), np.int64)
                    block_stocks = np.zeros(
                        (n_chunks, len(block), horizon, G, S, N_STOCKS), np.int64
                    )
                    kernel(kernel_book, tables, block_flows, block_stocks)
                    flows[block.start : block.stop] = block_flows.sum(axis=0)
                    stocks[block.start : block.stop] = block_stocks.sum(axis=0)
                    z[block.start : block.stop] = tables.z
                    done += 1
                    if progress is not None:
                        progress(done, total)
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
        opening_principal_fen=int(book.principal.sum()),
        attrs=attrs,
    )


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
