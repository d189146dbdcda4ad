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
