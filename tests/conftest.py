"""Shared fixtures: the CLI runner, a small synthetic book written as CSV and Parquet, helpers
for writing loan tapes and for checking "bad input" exits, and the hypothesis profile.

The hypothesis profile ``ci`` (no deadline, derandomized, no example database) is loaded by
default so that the suite gives the same result on every run and on slow CI machines; set
``HYPOTHESIS_PROFILE=dev`` for a randomised, longer search.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, settings

from simulator.cli import main
from simulator.inputs.portfolio import REQUIRED, Portfolio
from simulator.inputs.synthetic import synthetic_portfolio

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

HEADER = ",".join(REQUIRED)
"""The required columns of a loan tape, in order: loan_id, segment, score, principal,
annual_rate, remaining_term."""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def cli(runner: CliRunner) -> Callable[..., Result]:
    """``cli("scenarios", "list")`` runs ``stress-sim scenarios list`` in-process."""

    def invoke(*args: str | os.PathLike[str], catch_exceptions: bool = True) -> Result:
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=catch_exceptions)

    return invoke


@pytest.fixture
def bad_input() -> Callable[..., None]:
    """``bad_input(result, "a.csv", "row 2")``: the command failed cleanly on bad input.

    Exit status 2, one message containing every fragment, and no traceback.
    """

    def check(result: Result, *fragments: str) -> None:
        output = result.output
        assert result.exit_code == 2, f"exit {result.exit_code}, output:\n{output}"
        assert "Traceback" not in output
        assert "internal error" not in output
        for fragment in fragments:
            assert fragment in output, f"{fragment!r} not in:\n{output}"

    return check


@pytest.fixture
def write_tape(tmp_path: Path) -> Callable[..., Path]:
    """``write_tape(rows, name="tape.csv", header=HEADER)``: a CSV tape from text rows."""

    def write(rows: Sequence[str], name: str = "tape.csv", header: str = HEADER) -> Path:
        path = tmp_path / name
        path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def small_book() -> Portfolio:
    """A 300-loan synthetic book (seed 7): every segment and tier, some delinquent loans."""
    return synthetic_portfolio(300, seed=7)


@pytest.fixture
def small_book_csv(small_book: Portfolio, tmp_path: Path) -> Path:
    path = tmp_path / "book.csv"
    pacsv.write_csv(small_book.to_table(), path)
    return path


@pytest.fixture
def small_book_parquet(small_book: Portfolio, tmp_path: Path) -> Path:
    path = tmp_path / "book.parquet"
    pq.write_table(small_book.to_table(), path)
    return path
