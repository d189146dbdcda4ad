"""Dask against in-process at full scale (issue #7): at most 20% overhead on 10 billion
borrower-months with 2 workers on the 2-core machine. Measured by hand, like the other full-scale
figures of the README; asv's quick pass runs the small case in ``benchmarks/scaleout.py``.

    python benchmarks/dask_overhead.py --loans 100000 --paths 4200 --workers 2 --rounds 2

The same run (one scenario, one policy, 24 months) is timed in this process (all cores through
Numba's threads) and on a ``LocalCluster`` of ``--workers`` single-threaded worker processes
(``cores // workers`` Numba threads each), alternately, ``--rounds`` times each (in-process,
Dask, Dask, in-process, ...), so that a busy moment on a shared machine is less likely to fall on
one side only. Cluster start-up and the first kernel call on each side are outside the timing.
The overhead is the ratio of the fastest runs of each side, minus 1; the median is printed too.
Throughput is nominal borrower-months (loans x paths x months) per second.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python benchmarks/dask_overhead.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator import synthetic_portfolio
from simulator.run import simulate
from simulator.run.distributed import cluster_client


def _run(book: Any, paths: int, horizon: int, client: Any = None) -> float:
    start = time.perf_counter()
    simulate(book, ["adverse"], ["standard"], treasury="run-off", paths=paths, horizon=horizon,
             seed=1, client=client)  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--paths", type=int, default=4_200)
    parser.add_argument("--horizon", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    borrower_months = args.loans * args.paths * args.horizon
    book = synthetic_portfolio(args.loans, seed=1)
    local: list[float] = []
    dask: list[float] = []
    with cluster_client(workers=args.workers, dashboard=False) as client:
        _run(book, 2, args.horizon)  # load the compiled kernels here and on every worker
        _run(book, 2 * args.workers, args.horizon, client)
        for round_ in range(args.rounds):
            order = [(local, None), (dask, client)]
            for times, on in order if round_ % 2 == 0 else order[::-1]:
                times.append(_run(book, args.paths, args.horizon, on))
                print(f"{'dask' if on else 'in-process'}: {times[-1]:.1f} s", file=sys.stderr)
    print(
        json.dumps(
            {
                "loans": args.loans,
                "paths": args.paths,
                "horizon": args.horizon,
                "borrower_months": borrower_months,
                "workers": args.workers,
                "in_process_s": [round(t, 2) for t in local],
                "dask_s": [round(t, 2) for t in dask],
                "in_process_per_s": round(borrower_months / min(local)),
                "dask_per_s": round(borrower_months / min(dask)),
                "overhead": round(min(dask) / min(local) - 1, 4),
                "overhead_median": round(statistics.median(dask) / statistics.median(local) - 1, 4),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
