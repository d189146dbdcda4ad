"""Stage 3 of ``simulate``: compute the blocks of the plan that are not done yet.

Blocks run one after another in this process (Numba threads within each), or as tasks on a
Dask cluster through :mod:`simulator.run.distributed`, which knows nothing of the model or of
xarray. With a run directory, each finished block is saved in the :mod:`simulator.run.store`
as it arrives, and the blocks an interrupted run of the same inputs saved are reused instead of
computed; this module is the glue that turns the run's objects into the store's plain data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from simulator.run.blocks import (
    BlockKey,
    BlockResult,
    PathTotals,
    Plan,
    block_task,
    chunk_count,
    numba_threads,
    simulate_block,
)
from simulator.run.distributed import run_blocks
from simulator.run.inputs import ResolvedRun, RunInputs
from simulator.run.store import RunStore, manifest

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (blocks done, blocks in all) after each block (reused blocks count as done)."""


def open_store(
    run: ResolvedRun, plan: Plan, run_dir: str | Path | None, *, resume: bool
) -> RunStore | None:
    """The run directory of this run (None without one), with the manifest of its inputs."""
    if run_dir is None:
        return None
    from simulator import __version__

    inputs = run.inputs
    scenarios = [
        (s.name, (s.text, repr(sorted(s.anchors.items())), s.start.isoformat()))
        for s in inputs.scenarios
    ]
    return RunStore.open(
        Path(run_dir),
        manifest(
            book_sha256=run.portfolio.sha256,
            model_text=inputs.model.text,
            treasury_text=run.treasury.text,
            scenarios=scenarios,
            policies=[(p.name, (p.text,)) for p in inputs.policies],
            seed=inputs.seed,
            paths=plan.paths,
            horizon=inputs.horizon,
            block_paths=plan.block_paths,
            version=__version__,
            tail=";".join("" if s is None else s.describe() for s in inputs.shifts),
        ),
        resume=resume,
    )


def execute(
    run: ResolvedRun,
    plan: Plan,
    *,
    threads: int | None,
    chunks: int | None,
    progress: Progress | None,
    client: Client | None,
    store: RunStore | None,
) -> PathTotals:
    """Every block of ``plan``, reused from ``store`` or computed, in one :class:`PathTotals`."""
    inputs = run.inputs
    totals = PathTotals(plan, inputs.horizon, len(inputs.model.segments), len(inputs.model.tiers))
    keys = plan.keys
    todo = keys if store is None else _reuse(store, totals, keys)
    done, total = len(keys) - len(todo), len(keys)
    if progress is not None and done:
        progress(done, total)

    def finished(key: BlockKey, result: BlockResult) -> None:
        nonlocal done
        totals.put(key, result)
        if store is not None:
            store.save(key, result.arrays())
        log.info("computed block %s", plan.label(key))
        done += 1
        if progress is not None:
            progress(done, total)

    if client is None:
        _in_process(
            inputs, plan, todo, finished, threads=threads, chunks=chunks, loans=len(run.portfolio)
        )
    else:
        task = partial(block_task, plan=plan, chunks=chunks)
        run_blocks(client, task, inputs, todo, finished, threads=threads, label=plan.label)
    return totals


def _reuse(store: RunStore, totals: PathTotals, keys: list[BlockKey]) -> list[BlockKey]:
    """Put the blocks ``store`` holds into ``totals``; return the keys still to compute."""
    reused = store.load_finished(
        keys, BlockResult.names(), lambda key, arrays: totals.fits(key, BlockResult(**arrays))
    )
    for key, arrays in reused.items():
        totals.put(key, BlockResult(**arrays))
    if reused:
        log.info("reused %d finished blocks from %s", len(reused), store.directory)
    return [key for key in keys if key not in reused]


def _in_process(
    inputs: RunInputs,
    plan: Plan,
    keys: Sequence[BlockKey],
    finished: Callable[[BlockKey, BlockResult], None],
    *,
    threads: int | None,
    chunks: int | None,
    loans: int,
) -> None:
    """The blocks one after another in this process, with ``threads`` Numba threads."""
    with numba_threads(threads if inputs.engine == "numba" else None) as n_threads:
        n_chunks = chunk_count(chunks, n_threads, loans)
        for key in keys:
            s, p, _ = key
            finished(key, simulate_block(inputs, s, p, plan.paths_of(key), n_chunks))
