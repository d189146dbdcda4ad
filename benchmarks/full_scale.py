"""The issue's full-scale run, measured once: time, throughput and peak resident memory.

``python -m benchmarks.full_scale`` simulates 1,000,000 synthetic loans x 1,000 paths x 24 months
under the three default scenarios with the standard policy (72 billion nominal borrower-months)
in this process, after a warm-up, and reports the wall time and the process's peak RSS
(``getrusage``: everything the process ever held, book and inputs included). The target is a run
that completes with a peak under 2 GiB. It takes minutes; the asv suite's ``memory.LargeRun`` is
the same run at 64 paths.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from rich.console import Console


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--paths", type=int, default=1000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--threads", type=int, default=None, help="Numba threads (default: all)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    from simulator.run import DEFAULT_SCENARIOS, simulate

    console = Console(stderr=True)
    simulate(200, DEFAULT_SCENARIOS, paths=2, horizon=3)  # compile or load the kernels
    done: list[float] = []

    def progress(finished: int, total: int) -> None:
        done.append(time.perf_counter())
        if finished % 10 == 0 or finished == total:
            console.print(f"{finished}/{total} blocks, {done[-1] - start:.0f} s")

    start = time.perf_counter()
    ds = simulate(
        args.loans,
        DEFAULT_SCENARIOS,
        treasury="run-off",  # the book alone: nominal borrower-months are the loans simulated
        paths=args.paths,
        horizon=args.months,
        threads=args.threads,
        progress=progress,
    )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    nominal = args.loans * args.paths * args.months * len(DEFAULT_SCENARIOS)
    figures = {
        "loans": args.loans,
        "paths": args.paths,
        "months": args.months,
        "scenarios": list(DEFAULT_SCENARIOS),
        "threads": args.threads,
        "seconds": round(seconds, 1),
        "nominal_borrower_months": nominal,
        "borrower_months_per_second": round(nominal / seconds),
        "peak_rss_bytes": peak,
        "peak_rss_gib": round(peak / 2**30, 3),
        "expected_loss_rate": {
            s: float(ds.loss_rate.sel(scenario=s).mean()) for s in DEFAULT_SCENARIOS
        },
    }
    console.print_json(json.dumps(figures))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
