"""From kernel totals to results: building the Dataset, and ``summarize`` on it.

``build_dataset`` is timed on the very arguments ``simulate`` gives it (recorded in ``setup``
from one run), so the benchmark follows ``simulate`` as it changes.
"""

from __future__ import annotations

from typing import Any

from benchmarks import common
from simulator import aggregate
from simulator.metrics import summarize


def recorded_run(
    loans: int, paths: int, months: int, scenarios: int
) -> tuple[tuple[Any, ...], dict[str, Any], Any]:
    """One ``simulate`` run: the arguments it gave ``build_dataset``, and the Dataset."""
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    build = aggregate.build_dataset

    def record(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        return build(*args, **kwargs)

    names = ["baseline", "adverse", "severe", "pandemic", "stagflation"][:scenarios]
    aggregate.build_dataset = record  # simulate reads it from the module when it runs
    try:
        ds = common.run(common.book(loans), paths=paths, months=months, scenarios=names)
    finally:
        aggregate.build_dataset = build
    ((args, kwargs),) = calls
    return args, kwargs, ds


class Dataset:
    """``build_dataset`` and ``summarize`` for a run of 3 scenarios (a small book: the size of
    the Dataset is paths x months, whatever the number of loans)."""

    params = ((1000,), (24, 60))
    param_names = ("paths", "months")
    smoke_params = ((2,), (3,))
    loans = 1_000
    scenarios = 3
    warmup_time = 0.0

    def setup(self, paths: int, months: int) -> None:
        common.warm_up()
        self.args, self.kwargs, self.ds = recorded_run(self.loans, paths, months, self.scenarios)

    def time_build_dataset(self, paths: int, months: int) -> None:
        aggregate.build_dataset(*self.args, **self.kwargs)

    def time_summarize(self, paths: int, months: int) -> None:
        summarize(self.ds)
