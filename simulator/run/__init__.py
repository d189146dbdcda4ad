"""``simulate``: inputs -> model tables -> kernel, block of paths by block -> Dataset.

Four stages, one module each, in the order the data flows (as flox splits ``groupby_reduce``
into factorize, reduce per chunk, combine and finalize):

1. :mod:`~simulator.run.inputs` resolves the inputs: files loaded and checked, the book, the
   new-loan pool and each policy's levers (``RunInputs``, what every block reads);
2. :mod:`~simulator.run.blocks` plans the blocks (one scenario, one policy, a range of paths)
   and computes one, a pure function of the inputs;
3. :mod:`~simulator.run.execute` runs the blocks not done yet, in this process or on a Dask
   cluster (:mod:`~simulator.run.distributed`), saving and reusing finished blocks in a run
   directory (:mod:`~simulator.run.store`);
4. :mod:`~simulator.run.assemble` turns the integer totals into the Dataset.

Blocks cover disjoint paths and hold integer totals at fixed path offsets: assembling them
needs no arithmetic, so the Dataset is the same bit for bit whatever ran the blocks, in
whatever order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from simulator.inputs.model import Model
from simulator.inputs.policy import Policy
from simulator.inputs.portfolio import Portfolio
from simulator.inputs.scenario import Scenario
from simulator.inputs.treasury import Treasury
from simulator.run.assemble import assemble
from simulator.run.blocks import BLOCK_PATHS, plan_blocks
from simulator.run.execute import Progress, execute, open_store
from simulator.run.inputs import (
    DEFAULT_SCENARIOS,
    DEFAULT_SYNTHETIC_LOANS,
    ENGINES,
    check_arguments,
    resolve_inputs,
    tail_sampling,
)
from simulator.run.pilot import with_tail_shifts
from simulator.tail import TailSampling

if TYPE_CHECKING:
    import xarray as xr
    from distributed import Client

__all__ = [
    "BLOCK_PATHS",
    "DEFAULT_SCENARIOS",
    "DEFAULT_SYNTHETIC_LOANS",
    "ENGINES",
    "Progress",
    "simulate",
]


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
    provisions: bool = True,
    tail: TailSampling | str | None = None,
    panel_out: str | Path | None = None,
    panel_paths: int = 4,
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

    ``provisions``: book the IFRS 9 stages, the ECL allowance, the regulatory categories and
    capital on every path (SPEC 10; the default); False leaves those variables out.

    ``tail``: tail sampling (SPEC 13; :mod:`simulator.tail`): ``"loss"``, ``"buffer"``,
    ``"capital"`` or a :class:`~simulator.tail.TailSampling`. Each scenario's factor shocks are
    then drawn shifted towards its tail on most paths, and each path carries its likelihood
    ratio as the variable ``weight`` (1 on every path without), which every metric of
    :mod:`simulator.metrics` applies.

    ``panel_out``: also write the loan-month histories of the first ``panel_paths`` paths of
    the first scenario and policy there, as a Parquet panel (SPEC 12; ``run.panel_out``).
    """
    check_arguments(
        engine=engine, paths=paths, block_paths=block_paths, seed=seed, resume=resume,
        run_dir=run_dir, panel_paths=panel_paths if panel_out is not None else None,
    )  # fmt: skip
    run = resolve_inputs(
        portfolio, scenarios, policies, model=model, treasury=treasury, horizon=horizon,
        seed=seed, engine=engine, provisions=provisions,
    )  # fmt: skip
    run = with_tail_shifts(run, tail_sampling(tail), threads, chunks)
    plan = plan_blocks(run.inputs, paths, block_paths)
    store = open_store(run, plan, run_dir, resume=resume)
    totals = execute(
        run, plan, threads=threads, chunks=chunks, progress=progress, client=client, store=store
    )
    ds = assemble(run, totals)
    if panel_out is not None:
        from simulator.run.panel_out import write_panel

        write_panel(run, panel_out, panel_paths)
    return ds
