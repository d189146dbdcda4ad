"""The cost of ``--panel-out``: the default run with and without the panel of 4 paths.

Issue #14's bound: ``stress-sim run`` on its embedded default (100,000 loans, baseline, adverse
and severe, 1,000 paths, 24 months, the default treasury) writing the loan-month panel of 4
paths costs under 1.5x the same run without it. ``track_ratio`` times both in one process,
interleaved (the faster of ``repeats`` rounds each), and returns the ratio;
``python -m benchmarks.panel_out`` prints it with the times (``--paths`` for a shorter run).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks import common

PANEL_PATHS = 4
SCENARIOS = ("baseline", "adverse", "severe")


def _seconds(loans: int, paths: int, panel: Path | None) -> float:
    from simulator.run import simulate

    book = common.book(loans)
    began = time.perf_counter()
    simulate(book, [common.scenario(s) for s in SCENARIOS], [common.policy(common.STANDARD)],
             model=common.model(), treasury="default", paths=paths, horizon=24,
             panel_out=panel, panel_paths=min(PANEL_PATHS, paths))  # fmt: skip
    return time.perf_counter() - began


def measure(loans: int, paths: int, repeats: int = 2) -> dict[str, float]:
    """Seconds without and with the panel (fastest of ``repeats``) and their ratio."""
    common.warm_up()
    with tempfile.TemporaryDirectory() as tmp:
        panel = Path(tmp) / "panel.parquet"
        _seconds(loans, min(paths, 2), panel)  # the traced kernels' first call
        without, with_panel = [], []
        for _ in range(repeats):
            without.append(_seconds(loans, paths, None))
            with_panel.append(_seconds(loans, paths, panel))
        size = panel.stat().st_size
    return {"without": min(without), "with_panel": min(with_panel),
            "ratio": min(with_panel) / min(without), "panel_mb": size / 1e6}  # fmt: skip


class PanelOut:
    """The default run with ``--panel-out`` (4 paths) over the run without: at most 1.5x."""

    params = ((100_000,), (1_000,))
    param_names = ("loans", "paths")
    smoke_params = ((300,), (2,))
    warmup_time = 0.0
    number = 1
    repeat = 1

    def track_ratio(self, loans: int, paths: int) -> float:
        return measure(loans, paths, repeats=1)["ratio"]

    track_ratio.unit = "ratio"  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--paths", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    result = measure(args.loans, args.paths, args.repeats)
    print(f"{args.loans:,} loans, {args.paths:,} paths x {len(SCENARIOS)} scenarios: "
          f"{result['without']:.1f} s without the panel, {result['with_panel']:.1f} s with "
          f"{PANEL_PATHS} paths ({result['panel_mb']:.0f} MB): {result['ratio']:.2f}x "
          "(bound 1.5x)")  # fmt: skip


if __name__ == "__main__":
    main()
