"""Inputs shared by the benchmarks and the gate, built once per process and outside any timing.

Figures are throughput in *nominal* borrower-months per second (loans x paths x months / wall
time, whether or not a loan is still open; SPEC 9) or ratios of two timings taken in the same
process. Every input is seeded, so each benchmark simulates exactly the same book and paths on
every machine.

Each benchmark class carries ``params`` (the sizes asv runs) and ``smoke_params`` (the same
shape, tiny), which ``tests/test_benchmarks.py`` runs so that the suite cannot rot.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numba
import pyarrow.parquet as pq

from simulator.inputs.model import Model, load_model
from simulator.inputs.policy import Policy, load_policy
from simulator.inputs.portfolio import Portfolio
from simulator.inputs.scenario import Scenario, load_scenario
from simulator.inputs.synthetic import synthetic_portfolio

if TYPE_CHECKING:
    import xarray as xr

SCENARIO = "adverse"
"""The scenario of every single-scenario benchmark (the issue's throughput target)."""
STANDARD = "standard"
RICH = "every-lever"
"""The policy-rich run: ``benchmarks/every-lever.toml``, every lever of the shipped policies."""
RICH_POLICY_FILE = Path(__file__).with_name("every-lever.toml")
TREASURY = "run-off"
"""The engine benchmarks simulate the book alone (no new lending), so that nominal
borrower-months count the loans simulated; ``engine.NewLending`` measures what the default
treasury's new-loan cohorts add."""
ALL_THREADS: int = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
"""All the threads Numba may use here (the machine's cores unless NUMBA_NUM_THREADS says)."""

MAX_NOMINAL = 2_500_000_000
"""Parameter combinations above this many borrower-months are skipped (about 10 s each on the
2-core CI machine): asv's quick pass must stay a few minutes. The 72-billion run of the issue is
measured once, by hand (README, Performance)."""


def nominal(loans: int, paths: int, months: int, runs: int = 1) -> int:
    """Nominal borrower-months: loans x paths x months x (scenario, policy) runs."""
    return loans * paths * months * runs


def skip_above(loans: int, paths: int, months: int, runs: int = 1) -> None:
    """Skip (asv: NotImplementedError in ``setup``) a combination larger than MAX_NOMINAL."""
    if nominal(loans, paths, months, runs) > MAX_NOMINAL:
        raise NotImplementedError(f"more than {MAX_NOMINAL:,} borrower-months")


@functools.cache
def model() -> Model:
    return load_model("default")


@functools.cache
def scenario(name: str = SCENARIO) -> Scenario:
    return load_scenario(name)


@functools.cache
def policy(name: str) -> Policy:
    """A shipped policy, or ``RICH`` for the benchmark's every-lever policy."""
    return load_policy(RICH_POLICY_FILE if name == RICH else name)


@functools.cache
def book(loans: int) -> Portfolio:
    """The default synthetic book of ``loans`` loans (seed 0), as ``simulate(loans)`` makes."""
    return synthetic_portfolio(loans, seed=0, model=model())


def tape(loans: int, directory: Path | None = None) -> Path:
    """``book(loans)`` as a Parquet loan tape, written once per machine (named by its hash)."""
    portfolio = book(loans)
    directory = directory or Path(tempfile.gettempdir()) / "simulator-benchmarks"
    path = directory / f"book-{loans}-{portfolio.sha256[:16]}.parquet"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # concurrent asv processes
        pq.write_table(portfolio.to_table(), partial)
        os.replace(partial, path)
    return path


def run(
    book: Portfolio,
    policy_name: str = STANDARD,
    *,
    paths: int,
    months: int,
    threads: int | None = None,
    treasury: str = TREASURY,
    scenarios: Sequence[str] = (SCENARIO,),
    client: Any = None,
    provisions: bool = True,
    tail: Any = None,
    seed: int = 0,
) -> xr.Dataset:
    """``simulate`` of ``book`` under ``scenarios`` and one policy, with the default model
    (``tail``: tail sampling, SPEC 13)."""
    from simulator.run import simulate

    return simulate(book, [scenario(name) for name in scenarios], [policy(policy_name)],
                    model=model(), treasury=treasury, paths=paths, horizon=months,
                    threads=threads, client=client, provisions=provisions, tail=tail,
                    seed=seed)  # fmt: skip


@functools.cache
def warm_up() -> None:
    """Compile every kernel a benchmark runs, or load it from Numba's cache, before any timing:
    both engines, the table builder, the standard and the every-lever policy."""
    from simulator.run import ENGINES, simulate

    for engine in ENGINES:
        simulate(
            book(200),
            [scenario()],
            [policy(STANDARD), policy(RICH)],
            model=model(),
            treasury=TREASURY,
            paths=2,
            horizon=3,
            engine=engine,
        )
