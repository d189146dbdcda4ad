"""Variance reduction of tail sampling (SPEC 13, issue #15) on the default book under severe.

``python -m benchmarks.tail [--loans N] [--paths N] [--seeds N] [--json PATH]``

At equal paths, over repeated seeds, the variance across seeds of two estimates, plain against
tail-sampled:

* the ES 99.9% of the loss rate (``--tail-sampling loss``), under the default treasury;
* the probability of a liquidity shortfall within 12 months (``--tail-sampling buffer``). Under
  the default treasury and severe it is 1 (every path runs out of buffer within a year: nothing
  to sample, the shift is 0 and both variances are 0; the script reports the plain value), so
  it is measured with ``benchmarks/tail-buffer.toml``, the default treasury with a 40% buffer,
  where a 12-month shortfall is rare.

Reported per estimate: the mean and variance of each estimator over the seeds, their ratio
(the variance reduction), and the mean squared error of the plain estimate around the mean of
the tail-sampled ones (the plain ES 99.9% of a few hundred paths rests on its top path or two
and is biased low: its variance understates its error). The shift's own time (the pilot paths
of :mod:`simulator.run.pilot`) is timed apart on the first seed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python benchmarks/tail.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks import common

BUFFER_TREASURY = Path(__file__).with_name("tail-buffer.toml")
LEVEL = 0.999


def estimates(book: Any, seed: int, paths: int, months: int | None) -> dict[str, float]:
    """The four estimates of one seed, and the plain 12-month shortfall of the default treasury."""
    from simulator.metrics import summarize
    from simulator.metrics.weighted import TailWeightWarning

    def run(treasury: Any, tail: str | None) -> Any:
        with warnings.catch_warnings():  # a heavy weight is reported, not fatal, here
            warnings.simplefilter("ignore", TailWeightWarning)
            ds = common.run(book, paths=paths, months=months or 24, treasury=treasury,
                            scenarios=("severe",), tail=tail, seed=seed)  # fmt: skip
            return summarize(ds, levels=(LEVEL,))

    def value(summary: Any, name: str) -> float:
        return float(summary[name].squeeze())

    plain, loss = run("default", None), run("default", "loss")
    plain_buffer, buffer = run(str(BUFFER_TREASURY), None), run(str(BUFFER_TREASURY), "buffer")
    return {
        "es_plain": value(plain, "es"),
        "es_tail": value(loss, "es"),
        "shortfall_plain": value(plain_buffer, "shortfall_within_12"),
        "shortfall_tail": value(buffer, "shortfall_within_12"),
        "default_treasury_shortfall_within_12": value(plain, "shortfall_within_12"),
    }


def shift_seconds(book: Any, paths: int, months: int | None) -> float:
    """The time of the shift alone (its pilot paths and the fit), for the loss target."""
    from simulator.run.inputs import resolve_inputs
    from simulator.run.pilot import pilot_shifts
    from simulator.tail import TailSampling

    run = resolve_inputs(book, [common.scenario("severe")], [common.policy(common.STANDARD)],
                         model=common.model(), treasury="default", horizon=months, seed=0,
                         engine="numba")  # fmt: skip
    started = time.perf_counter()
    pilot_shifts(run, TailSampling("loss"), None, None)
    return time.perf_counter() - started


def measure(loans: int, paths: int, seeds: int, months: int | None = None) -> dict[str, Any]:
    book = common.book(loans)
    common.warm_up()
    started = time.perf_counter()
    rows = [estimates(book, seed, paths, months) for seed in range(seeds)]
    seconds = time.perf_counter() - started
    out: dict[str, Any] = {"loans": loans, "paths": paths, "seeds": seeds, "months": months or 24,
                           "scenario": "severe", "seconds": round(seconds, 1)}  # fmt: skip
    for name in ("es", "shortfall"):
        plain = np.array([r[f"{name}_plain"] for r in rows])
        tail = np.array([r[f"{name}_tail"] for r in rows])
        var_plain, var_tail = float(np.var(plain, ddof=1)), float(np.var(tail, ddof=1))
        out[name] = {
            "plain_mean": float(plain.mean()), "tail_mean": float(tail.mean()),
            "plain_variance": var_plain, "tail_variance": var_tail,
            "variance_reduction": var_plain / var_tail if var_tail > 0 else None,
            "plain_mse_around_tail_mean": float(np.mean((plain - tail.mean()) ** 2)),
        }  # fmt: skip
    out["default_treasury_shortfall_within_12"] = [
        r["default_treasury_shortfall_within_12"] for r in rows
    ]
    out["shift_seconds"] = round(shift_seconds(book, paths, months), 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--paths", type=int, default=256)
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--months", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    report = measure(args.loans, args.paths, args.seeds, args.months)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
