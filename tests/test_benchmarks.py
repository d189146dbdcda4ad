"""The benchmark suite and the performance gate, run at tiny sizes so that they cannot rot.

Every asv benchmark in ``benchmarks/`` (a class with ``time_``, ``peakmem_`` or ``track_``
methods, or such a function) is set up and called once for each combination of its
``smoke_params`` (its ``params`` where it has none), as asv calls it. The gate's measurements
run on its ``smoke`` sizes. Timings and floors are not asserted: that is the gate's job on the CI
machine (``.ci/run``), where sizes are large enough to mean something.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import json
import numbers
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import benchmarks
from benchmarks import gate

PREFIXES = ("time_", "timeraw_", "mem_", "peakmem_", "track_")
REPO_ROOT = Path(__file__).resolve().parent.parent


def _modules() -> list[Any]:
    return [
        importlib.import_module(f"benchmarks.{info.name}")
        for info in pkgutil.iter_modules(benchmarks.__path__)
    ]


def _combinations(params: Any) -> list[tuple[Any, ...]]:
    """asv's reading of ``params``: a list of values, or a list of lists of values."""
    if not params:
        return [()]
    params = list(params)
    if not isinstance(params[0], tuple | list):
        params = [params]
    return list(itertools.product(*params))


def _cases() -> Iterator[Any]:
    for module in _modules():
        for name, obj in vars(module).items():
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isclass(obj):
                methods = [m for m in dir(obj) if m.startswith(PREFIXES)]
            elif inspect.isfunction(obj) and name.startswith(PREFIXES):
                methods = [name]
            else:
                continue
            if not methods:
                continue
            tiny = hasattr(obj, "smoke_params")
            params = obj.smoke_params if tiny else getattr(obj, "params", [])
            for combination in _combinations(params):
                yield pytest.param(
                    obj,
                    methods,
                    combination,
                    id=f"{module.__name__}.{name}{list(combination)}",
                    marks=() if tiny else pytest.mark.slow,  # its real sizes
                )


CASES = list(_cases())


def test_every_benchmark_module_is_collected() -> None:
    modules = {c.values[0].__module__ for c in CASES}
    for expected in ("engine", "io", "dataset", "memory", "scaleout"):
        assert f"benchmarks.{expected}" in modules


@pytest.mark.parametrize(
    "owner",
    sorted({c.values[0] for c in CASES if hasattr(c.values[0], "smoke_params")}, key=str),
)
def test_smoke_params_match_params(owner: Any) -> None:
    """``smoke_params`` has the shape of ``params``: one list per parameter name."""
    assert len(_combinations(owner.params)[0]) == len(_combinations(owner.smoke_params)[0])
    assert len(owner.param_names) == len(_combinations(owner.params)[0])


@pytest.mark.parametrize(("benchmark", "methods", "params"), CASES)
def test_benchmark_runs(benchmark: Any, methods: list[str], params: tuple[Any, ...]) -> None:
    if inspect.isfunction(benchmark):
        benchmark(*params)
        return
    instance = benchmark()
    args: tuple[Any, ...] = params
    if hasattr(instance, "setup_cache"):
        args = (instance.setup_cache(), *params)
    if hasattr(instance, "setup"):
        instance.setup(*args)  # a NotImplementedError (an asv skip) fails here: no skips
    try:
        for name in methods:
            result = getattr(instance, name)(*args)
            if name.startswith("track_"):
                assert isinstance(result, numbers.Real)
                assert result > 0
    finally:
        if hasattr(instance, "teardown"):
            instance.teardown(*args)


def test_gate_measures_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The gate's code path on tiny sizes: every check measured, table, Markdown and JSON."""
    out = tmp_path / "gate.json"
    status = gate.main(["--size", "smoke", "--attempts", "1", "--markdown", "--json", str(out)])
    report = json.loads(out.read_text(encoding="utf-8"))
    assert status == (0 if report["passed"] else 1)
    assert [c["name"] for c in report["checks"]] == list(gate.MEASURES)
    for check in report["checks"]:
        assert check["value"] is None or check["value"] > 0
        assert len(check["attempts"]) == 1
    engines = report["checks"][0]
    assert engines["detail"]["engines_agree"] is True
    assert report["machine"]["cpus"] >= 1
    printed = capsys.readouterr().out
    assert "Numba engine / NumPy reference engine" in printed
    assert "| check | measured | bound | result | medians (s) |" in printed


def test_gate_fails_below_a_floor(capsys: pytest.CaptureFixture[str]) -> None:
    """A ratio under its floor fails the gate, with a message that names it."""
    checks = gate.new_checks()
    for check in checks:
        check.floor = 1e9 if not check.at_most else 1e-9
    report = gate.run(gate.SIZES["smoke"], attempts=1, checks=checks[:1])
    assert not report["passed"]
    [message] = gate.failures(report)
    assert message.startswith("numba_vs_numpy: Numba engine / NumPy reference engine = ")


@pytest.mark.slow
def test_asv_discovers_the_suite() -> None:
    """``asv check`` imports every benchmark module and validates it, as ``asv run`` would."""
    result = subprocess.run(
        [sys.executable, "-m", "asv", "check", "--python=same"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No problems found" in result.stdout


def _bound_numpy(inputs: Any) -> Any:
    """The bound kernel's arithmetic written again in NumPy, all loans of a path at once: the
    same draws (``philox4x32_10_numpy``), rows, fen and closures, an independent reference."""
    import numpy as np

    from benchmarks.bound import ACCOUNTS, BALANCE, MISS
    from simulator.engine.layout import PURPOSE_BORROWER
    from simulator.rng import philox4x32_10_numpy
    from simulator.states import CHARGED_OFF, CURRENT, M1, M6

    book = inputs.book
    n = len(book.principal)
    out = np.zeros((inputs.paths, inputs.months, 2), np.int64)
    for tables in inputs.tables:
        for b in range(tables.paths):
            path = tables.first_path + b
            principal, accrued = book.principal.copy(), np.zeros(n, np.int64)
            term, state = book.remaining_term.astype(np.int64), book.state.astype(np.int64)
            matrix = (book.restructured > 0).astype(np.int64)
            live = np.ones(n, bool)
            for t in range(inputs.months):
                out[path, t, ACCOUNTS] = live.sum()
                current = state == CURRENT
                rate = np.where(
                    current, book.monthly_rate, book.monthly_rate * tables.penalty_multiplier
                )
                accrued += np.rint(principal * rate).astype(np.int64)
                due = term > 0
                term -= due
                counter = np.stack(
                    np.broadcast_arrays(
                        np.arange(n), path, t << 4 | PURPOSE_BORROWER, tables.stream
                    ),
                    axis=-1,
                )
                words = philox4x32_10_numpy(counter, tables.key).astype(np.int64)
                live &= ~(current & (words[:, 0] < tables.prepay[book.segment]))
                rows = tables.transition[
                    b, t, book.segment, book.tier, matrix, np.minimum(state, M6)
                ]
                destination = CHARGED_OFF - (rows <= words[:, 1:2]).sum(axis=1)
                pays = current & (words[:, 1] >= rows[:, MISS])
                cure = ~current & (destination < state)
                stays = ~current & (destination == state) & due
                paid = np.select([pays, cure, stays], [1, state - destination + due, 1], 0)
                rolled = np.where(state < M6, state + 1, CHARGED_OFF)
                state = np.where(
                    live,
                    np.select(
                        [pays, current, cure, stays], [CURRENT, M1, destination, state], rolled
                    ),
                    state,
                )
                paid = np.where(live, paid, 0)
                owed = principal + accrued
                clear = (state == CURRENT) & (term == 0)
                amount = np.where(
                    paid > 0, np.where(clear, owed, np.minimum(paid * book.instalment, owed)), 0
                )
                interest_part = np.minimum(amount, accrued)
                accrued -= interest_part
                principal -= amount - interest_part
                live &= ~((paid > 0) & (principal == 0) & (accrued == 0)) & (state != CHARGED_OFF)
                out[path, t, BALANCE] = principal[live].sum()
    return out


@pytest.fixture(scope="module")
def bound_inputs() -> Any:
    """A tiny book, three paths in blocks of two (so that the second block starts at path 2)."""
    from benchmarks import bound, common

    return bound.bound_inputs(common.book(400), paths=3, months=12, block_paths=2)


def test_bound_kernel_matches_numpy(bound_inputs: Any) -> None:
    """The bound kernel's month-end principal and account-months are those of an independent
    NumPy computation, bit for bit, whatever the chunking."""
    import numpy as np

    from benchmarks.bound import ACCOUNTS, run_bound

    expected = _bound_numpy(bound_inputs)
    assert expected[..., ACCOUNTS].min() > 0  # loans still live at the horizon: a real test
    assert expected[:, -1, ACCOUNTS].max() < expected[:, 0, ACCOUNTS].min()  # and loans closed
    for chunks in (1, 3, 7):
        np.testing.assert_array_equal(run_bound(bound_inputs, chunks=chunks), expected)


def test_bound_kernel_sees_the_engines_borrower_months(bound_inputs: Any) -> None:
    """With the standard policy the bound simulates the engine's own borrower-months: its
    account-months are the engine's ``active_accounts`` and its principal the engine's balance,
    per path and month, to the fen (so the two are timed on the same work). The bound has no
    relief memory (the few restructured loans of a tape miss more for a while in the engine):
    here the book's restructured loans are taken as carrying none."""
    import dataclasses

    import numpy as np

    from benchmarks.bound import ACCOUNTS, BALANCE, run_bound
    from benchmarks.engine import accumulators
    from simulator.engine import kernel_numba
    from simulator.engine.layout import ACTIVE_ACCOUNTS
    from simulator.engine.layout import BALANCE as STOCK_BALANCE

    book = bound_inputs.book
    book = dataclasses.replace(book, opening_relief=np.full_like(book.opening_relief, -1))
    bound = run_bound(dataclasses.replace(bound_inputs, book=book))
    for tables in bound_inputs.tables:
        flows, stocks = accumulators(2, tables)
        kernel_numba.run_block(book, tables, flows, stocks)
        at = slice(tables.first_path, tables.first_path + tables.paths)
        np.testing.assert_array_equal(
            flows[..., ACTIVE_ACCOUNTS].sum(axis=(0, 3)), bound[at, :, ACCOUNTS]
        )
        np.testing.assert_array_equal(
            stocks[..., STOCK_BALANCE].sum(axis=(0, 3, 4)), bound[at, :, BALANCE]
        )


def test_profile_parts_runs_on_the_bounds_borrower_months() -> None:
    """The per-part profile runs at a tiny size; its trace walks the bound's own live
    borrower-months (the same count, the first items those of the engine's first loan)."""
    import numpy as np

    from benchmarks import profile_parts
    from benchmarks.bound import ACCOUNTS, BoundInputs, run_bound

    block = profile_parts.block(300, 2)
    items, rates, live, recovery = profile_parts.trace(block)
    bound = run_bound(BoundInputs(block.inputs.book, (block.tables,), 2, 24))
    assert live == bound[..., ACCOUNTS].sum()
    assert len(items) == min(live, profile_parts.TRACE_ITEMS) and recovery > 0
    assert np.all(rates > 0) and set(np.unique(items[:, profile_parts.CLOSES])) == {0, 1}
    result = profile_parts.profile(300, 2, rounds=1)
    assert result["live_borrower_months"] == live
    assert all(ns > 0 for ns in result["whole_ns"].values())
