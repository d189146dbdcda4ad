"""Tail sampling's shift, per scenario, from plain pilot paths (SPEC 13; :mod:`simulator.tail`).

Before the blocks run, :func:`with_tail_shifts` simulates ``tail.pilot`` plain paths of each
scenario under the first policy (one shift for every policy keeps the paths common), in this
process, with a seed of its own (:func:`pilot_seed`: the pilot's draws are not the run's), and
fits the target's score on the paths' factor innovations (:func:`simulator.tail.
linear_mode_shift`). The shift is a pure function of the inputs, computed where ``simulate`` is
called and carried in :class:`~simulator.run.inputs.RunInputs`: Dask workers read it, a resumed
run computes the same one (the run directory's manifest holds it). Shifts are kept per process
(``_SHIFTS``), so a benchmark or a notebook that runs the same inputs again pays the pilot once.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from simulator.errors import InputError
from simulator.run.inputs import ResolvedRun
from simulator.tail import WINDOW_MONTHS, Shift, TailSampling, linear_mode_shift

if TYPE_CHECKING:
    import xarray as xr

log = logging.getLogger(__name__)

_SHIFTS: dict[str, tuple[Shift, ...]] = {}
PILOT_STREAM = 0x9E3779B97F4A7C15
"""Added to the run's seed (mod 2^64) for the pilot's draws."""


def pilot_seed(seed: int) -> int:
    return (seed + PILOT_STREAM) % 2**64


def with_tail_shifts(
    run: ResolvedRun, tail: TailSampling | None, threads: int | None, chunks: int | None
) -> ResolvedRun:
    """The run with each scenario's shift (unchanged without tail sampling)."""
    if tail is None:
        return run
    if tail.target == "capital" and not run.inputs.provisions:
        raise InputError(None, "tail sampling of capital needs provisions (the capital ratio)")
    key = _key(run, tail)
    if key not in _SHIFTS:
        started = time.perf_counter()
        _SHIFTS[key] = pilot_shifts(run, tail, threads, chunks)
        log.info("tail sampling: shift fitted on %d pilot paths in %.1f s", tail.pilot,
                 time.perf_counter() - started)  # fmt: skip
    inputs = replace(run.inputs, tail=tail, shifts=_SHIFTS[key])
    return replace(run, inputs=inputs)


def pilot_shifts(
    run: ResolvedRun, tail: TailSampling, threads: int | None, chunks: int | None
) -> tuple[Shift, ...]:
    """Each scenario's shift from ``tail.pilot`` plain paths (module docstring)."""
    from simulator.engine.tables import factor_shocks
    from simulator.run.assemble import assemble
    from simulator.run.blocks import BLOCK_PATHS, plan_blocks
    from simulator.run.execute import execute

    inputs = run.inputs
    if tail.scale == 0.0:
        return tuple(Shift(np.zeros(inputs.horizon), tail.defensive) for _ in inputs.scenarios)
    seed = pilot_seed(inputs.seed)
    pilot_inputs = replace(inputs, seed=seed, policies=inputs.policies[:1],
                           probits=inputs.probits[:1], levers=inputs.levers[:1])  # fmt: skip
    pilot = replace(run, inputs=pilot_inputs)
    plan = plan_blocks(pilot_inputs, tail.pilot, BLOCK_PATHS)
    totals = execute(pilot, plan, threads=threads, chunks=chunks, progress=None, client=None,
                     store=None)  # fmt: skip
    ds = assemble(pilot, totals).isel(policy=0)
    score, threshold = target_score(ds, tail.target, run.treasury.capital.minimum_ratio)
    shifts = []
    for s, scenario in enumerate(inputs.scenarios):
        eps = factor_shocks(seed, scenario, range(tail.pilot), inputs.horizon)
        mu = linear_mode_shift(eps, score[s], tail.radius, threshold)
        shifts.append(Shift(mu * tail.scale, tail.defensive))
    return tuple(shifts)


def target_score(
    ds: xr.Dataset, target: str, minimum_ratio: float
) -> tuple[np.ndarray, float | None]:
    """(score (S, P), threshold): larger is worse; the threshold of the target's event (None:
    the level's tail of the loss rate)."""
    window = {"month": slice(1, WINDOW_MONTHS)}
    if target == "loss":
        return ds["loss_rate"].values, None
    if target == "buffer":
        return -ds["liquidity_buffer"].sel(window).min("month").values, 0.0
    return -ds["capital_ratio"].sel(window).min("month").values, -minimum_ratio


def _key(run: ResolvedRun, tail: TailSampling) -> str:
    """A digest of what the shifts depend on."""
    inputs = run.inputs
    digest = hashlib.sha256()
    parts = [inputs.model.text, run.treasury.text, run.portfolio.sha256, inputs.policies[0].text,
             repr(tail), str(inputs.seed), str(inputs.horizon), str(inputs.provisions),
             *(s.text + repr(sorted(s.anchors.items())) for s in inputs.scenarios)]  # fmt: skip
    for part in parts:
        digest.update(part.encode("utf-8") + b"\x00")
    return digest.hexdigest()
