"""Stage 1 of ``simulate``: resolve the inputs.

Files are loaded and checked against one another (scenarios and policies against the model, the
portfolio coded with the model's segments and tiers, one start month), the candidate new loans
drawn, and each policy turned into its base probits and levers: :class:`RunInputs`, all that a
block of paths reads (picklable: sent once to each Dask worker), inside a :class:`ResolvedRun`
that keeps what only the client needs (the portfolio's identity, the treasury, the start).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from simulator.engine.arrays import Book, Levers, Pool
from simulator.errors import InputError
from simulator.inputs.accounting import CapitalRules
from simulator.inputs.model import Model, check_macro_variables, load_model
from simulator.inputs.policy import Policy, check_policy_against_model, load_policy
from simulator.inputs.portfolio import Portfolio, load_portfolio
from simulator.inputs.scenario import MAX_HORIZON, Scenario, load_scenario
from simulator.inputs.synthetic import synthetic_portfolio
from simulator.inputs.treasury import Treasury, load_treasury
from simulator.tail import Shift, TailSampling

if TYPE_CHECKING:
    from simulator.provisions.capital import IrbWeights

ENGINES = ("numba", "numpy")
DEFAULT_SCENARIOS = ("baseline", "adverse", "severe")
DEFAULT_SYNTHETIC_LOANS = 100_000


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
    provisions: bool  # book the ECL allowance, stages and categories (SPEC 10)
    capital: CapitalRules  # risk weights, for the risk-weighted assets of each block
    irb: IrbWeights | None  # the IRB inputs when the treasury's capital approach is IRB
    longest_term: int  # the longest term of a loan of the book or a new loan drawn from it
    tail: TailSampling | None = None  # tail sampling (SPEC 13), None for a plain run
    shifts: tuple[Shift | None, ...] = ()  # per scenario: the factor shift (None: plain; set
    # by simulator.run.pilot)


@dataclass(frozen=True)
class ResolvedRun:
    """A run's inputs: what the blocks read, and what the client keeps for the Dataset."""

    inputs: RunInputs
    portfolio: Portfolio  # the opening book as loaded (its source, digest, exposure by segment)
    treasury: Treasury
    start: dt.date  # the common first month of the scenarios


def check_arguments(
    *,
    engine: str,
    paths: int,
    block_paths: int,
    seed: int,
    resume: bool,
    run_dir: str | Path | None,
    panel_paths: int | None = None,
) -> None:
    """The arguments of ``simulate`` that are not files, checked before any file is read."""
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
    if panel_paths is not None and not 1 <= panel_paths <= paths:
        raise InputError(
            None, f"panel_paths must be from 1 to the number of paths ({paths}), got {panel_paths}"
        )


def resolve_inputs(
    portfolio: Portfolio | str | Path | int | None,
    scenarios: Sequence[str | Path | Scenario],
    policies: Sequence[str | Path | Policy],
    *,
    model: str | Path | Model,
    treasury: str | Path | Treasury,
    horizon: int | None,
    seed: int,
    engine: str,
    provisions: bool = True,
) -> ResolvedRun:
    """Load and check every input, draw the new-loan pool and encode each policy's levers."""
    from simulator.engine.cohorts import new_lending_pool, new_loan_term
    from simulator.engine.levers import policy_levers
    from simulator.engine.tables import base_probits
    from simulator.provisions.capital import irb_weights

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

    prepayment = np.array([segment.prepayment for segment in model.segments])
    pool = new_lending_pool(book, treasury, horizon, seed, prepayment)
    kernel_book = Book.from_portfolio(book, pool, model.provisions, model.relief.tape_from)
    capital = treasury.capital
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
        provisions=provisions,
        capital=capital,
        irb=irb_weights(model, capital) if capital.approach == "irb" else None,
        longest_term=int(max(book.remaining_term.max(), new_loan_term(book).max())),
        shifts=tuple(None for _ in scenario_list),
    )
    return ResolvedRun(inputs=inputs, portfolio=book, treasury=treasury, start=start)


def tail_sampling(tail: TailSampling | str | None) -> TailSampling | None:
    """``simulate``'s ``tail`` argument: a :class:`TailSampling`, a target name or None."""
    if tail is None or isinstance(tail, TailSampling):
        return tail
    try:
        return TailSampling(target=tail)
    except ValueError as err:
        raise InputError(None, str(err)) from None


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
