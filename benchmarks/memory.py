"""Peak resident memory of large runs (asv ``peakmem_``: the whole process, setup included).

Memory is O(loans + paths x months x segments) (SPEC 8): nothing is loans x paths. The issue's
full-scale run (1,000,000 loans x 1,000 paths x 24 months x 3 scenarios, under 2 GiB) takes
minutes, so the suite runs it at 64 paths and ``python -m benchmarks.full_scale`` runs it whole.
"""

from __future__ import annotations

from benchmarks import common
from simulator.run import DEFAULT_SCENARIOS


class LargeRun:
    """``simulate`` of a 1,000,000-loan book under the three default scenarios."""

    params = ((1_000_000,), (64,), (24,))
    param_names = ("loans", "paths", "months")
    smoke_params = ((300,), (2,), (3,))
    timeout = 600.0

    def setup(self, loans: int, paths: int, months: int) -> None:
        common.warm_up()
        self.book = common.book(loans)

    def peakmem_simulate(self, loans: int, paths: int, months: int) -> None:
        common.run(self.book, paths=paths, months=months, scenarios=DEFAULT_SCENARIOS)
