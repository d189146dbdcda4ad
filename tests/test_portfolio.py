"""Loan tape loading (SPEC 3.1): ``simulator.inputs.portfolio.load_portfolio`` and
``stress-sim portfolio check``.

Covers: every class of bad input is refused with exit status 2 and one message naming the file,
the column, the row and what was expected (no traceback), and the same tapes raise
``InputError`` from the library; several bad rows are reported together; a valid tape
round-trips through CSV and Parquet; the instalment is the annuity when absent and the file's
value when present; optional columns default; the 36% rate warning; ``--json`` output.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from simulator.errors import InputError
from simulator.inputs.model import load_model
from simulator.inputs.portfolio import (
    OPTIONAL,
    REQUIRED,
    SHOWN_PROBLEMS,
    Portfolio,
    load_portfolio,
)
from simulator.states import MAX_DPD

HEADER = ",".join(REQUIRED)
LOWEST_SCORE = 300  # min_score of tier E, the lowest tier of scenarios/model/default.toml


def row(
    loan_id: object = 1,
    segment: str = "salaried",
    score: object = 700,
    principal: object = 10000,
    rate: object = 0.12,
    term: object = 6,
    *extra: object,
) -> str:
    """One CSV row of the required columns (plus any extra cells), good unless overridden."""
    return ",".join(map(str, (loan_id, segment, score, principal, rate, term, *extra)))


# (id, header, rows, fragments the message must contain besides the file name)
BAD_TAPES = [
    (
        "duplicate-loan-id",
        HEADER,
        [row(7), row(8), row(7)],
        ["2 problem(s)", "row 1, loan_id", "row 3, loan_id", "'7'", "unique id"],
    ),
    (
        "missing-columns",
        "loan_id,segment,score,principal",
        ["1,salaried,700,10000"],
        ["missing required column(s) annual_rate, remaining_term"],
    ),
    (
        "non-numeric-principal",
        HEADER,
        [row(principal="abc")],
        ["row 1, principal", "'abc'", "expected a number"],
    ),
    (
        "negative-principal",
        HEADER,
        [row(1), row(2, principal=-5)],
        ["1 problem(s)", "row 2, principal", "-5", "expected an amount in CNY from 0.01"],
    ),
    (
        "zero-principal",
        HEADER,
        [row(principal=0)],
        ["row 1, principal", "expected an amount in CNY from 0.01"],
    ),
    (
        "rate-above-one",
        HEADER,
        [row(rate=1.5)],
        ["row 1, annual_rate", "1.5", "between 0 and 1"],
    ),
    (
        "negative-rate",
        HEADER,
        [row(rate=-0.1)],
        ["row 1, annual_rate", "-0.1", "between 0 and 1"],
    ),
    (
        "unknown-segment",
        HEADER,
        [row(segment="student")],
        ["row 1, segment", "'student'", "salaried, self_employed, micro_business"],
    ),
    (
        "nan-principal",
        HEADER,
        [row(principal="nan")],
        ["row 1, principal", "missing"],
    ),
    (
        "missing-score",
        HEADER,
        [row(1), row(2, score="")],
        ["row 2, score", "expected a value (it is missing)"],
    ),
    (
        "infinite-principal",
        HEADER,
        [row(principal="inf")],
        ["row 1, principal", "expected a number"],
    ),
    (
        "score-below-lowest-tier",
        HEADER,
        [row(score=LOWEST_SCORE - 1)],
        ["row 1, score", f"{LOWEST_SCORE - 1}", f">= {LOWEST_SCORE}"],
    ),
    (
        "dpd-above-180",
        HEADER + ",dpd",
        [row(1, "salaried", 700, 10000, 0.12, 6, MAX_DPD + 1)],
        ["row 1, dpd", f"{MAX_DPD + 1}", f"from 0 to {MAX_DPD}"],
    ),
    (
        "remaining-term-zero",
        HEADER,
        [row(term=0)],
        ["row 1, remaining_term", "whole number of instalments from 1"],
    ),
    (
        "remaining-term-fractional",
        HEADER,
        [row(term=2.5)],
        ["row 1, remaining_term", "2.5", "whole number of instalments from 1"],
    ),
    (
        "principal-below-one-fen",
        HEADER,
        [row(principal=0.004)],
        ["row 1, principal", "0.004", "from 0.01"],
    ),
    (
        "repeated-column",
        HEADER + ",principal",
        [row(1, "salaried", 700, 10000, 0.12, 6, 10000)],
        ["principal appear more than once"],
    ),
    (
        "header-only",
        HEADER,
        [],
        ["no loans", "header but no rows"],
    ),
]


@pytest.mark.parametrize(
    ("header", "rows", "fragments"),
    [case[1:] for case in BAD_TAPES],
    ids=[case[0] for case in BAD_TAPES],
)
def test_bad_tape_is_refused_by_cli(cli, bad_input, write_tape, header, rows, fragments):
    path = write_tape(rows, name="loans.csv", header=header)
    result = cli("portfolio", "check", path)
    bad_input(result, "loans.csv", *fragments)


@pytest.mark.parametrize(
    ("header", "rows", "fragments"),
    [case[1:] for case in BAD_TAPES],
    ids=[case[0] for case in BAD_TAPES],
)
def test_bad_tape_raises_input_error(write_tape, header, rows, fragments):
    path = write_tape(rows, name="loans.csv", header=header)
    with pytest.raises(InputError) as info:
        load_portfolio(path)
    assert info.value.source == str(path)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_empty_file(cli, bad_input, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    bad_input(cli("portfolio", "check", path), "empty.csv", "empty", "loan_id")


@pytest.mark.parametrize("name", ["loans.txt", "loans.xls", "loans"])
def test_wrong_file_type_by_suffix(cli, bad_input, tmp_path, name):
    path = tmp_path / name
    path.write_text(HEADER + "\n" + row() + "\n")
    bad_input(cli("portfolio", "check", path), name, "expected a loan tape ending in .csv")


def test_tiny_loan_still_has_a_payment(write_tape):
    """0.01 CNY over 600 months at 0% would round to a 0 fen instalment: it is 1 fen."""
    book = load_portfolio(write_tape([row(principal=0.01, rate=0, term=600)]))
    assert book.principal.tolist() == [1]
    assert book.instalment.tolist() == [1]


def test_parquet_suffix_with_csv_content(cli, bad_input, tmp_path):
    path = tmp_path / "loans.parquet"
    path.write_text(HEADER + "\n" + row() + "\n")
    bad_input(cli("portfolio", "check", path), "loans.parquet", "not a readable Parquet file")


def test_missing_file(cli, bad_input, tmp_path):
    bad_input(cli("portfolio", "check", tmp_path / "absent.csv"), "absent.csv", "no such file")


def test_bad_rows_are_reported_together(cli, bad_input, write_tape):
    rows = [
        row(1),
        row(2, principal=-1),
        row(3),
        row(4, rate=2),
        row(5, segment="student", term=0),
    ]
    result = cli("portfolio", "check", write_tape(rows))
    bad_input(
        result,
        "4 problem(s)",
        "row 2, principal",
        "row 4, annual_rate",
        "row 5, segment",
        "row 5, remaining_term",
    )
    assert "row 1," not in result.output
    assert "row 3," not in result.output


def test_many_bad_rows_are_counted_and_the_first_ones_shown(write_tape):
    n_bad = SHOWN_PROBLEMS + 5
    rows = [row(i, principal=-i) for i in range(1, n_bad + 1)]
    with pytest.raises(InputError) as info:
        load_portfolio(write_tape(rows))
    message = str(info.value)
    assert f"{n_bad} problem(s)" in message
    assert f"(first {SHOWN_PROBLEMS} shown)" in message
    assert f"row {SHOWN_PROBLEMS}, principal" in message
    assert f"row {SHOWN_PROBLEMS + 1}, principal" not in message


# --- valid tapes ----------------------------------------------------------------------------

ARRAYS = ("segment", "tier", "score", "principal", "annual_rate", "remaining_term", *OPTIONAL)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_round_trip(small_book: Portfolio, small_book_csv, small_book_parquet, fmt):
    path = small_book_csv if fmt == "csv" else small_book_parquet
    loaded = load_portfolio(path)
    assert len(loaded) == len(small_book)
    for name in ARRAYS:
        expected, got = getattr(small_book, name), getattr(loaded, name)
        assert got.dtype == expected.dtype, name
        np.testing.assert_array_equal(got, expected, err_msg=name)
    if fmt == "parquet":
        np.testing.assert_array_equal(loaded.loan_id, small_book.loan_id)
    else:  # CSV ids are kept as text (an id such as "007" keeps its zeros)
        assert loaded.loan_id.tolist() == [str(i) for i in small_book.loan_id.tolist()]
    assert loaded.segment_names == small_book.segment_names
    assert loaded.tier_names == small_book.tier_names
    assert loaded.sha256 == small_book.sha256
    assert loaded.warnings == ()


def test_csv_and_parquet_give_the_same_digest(small_book_csv, small_book_parquet):
    assert load_portfolio(small_book_csv).sha256 == load_portfolio(small_book_parquet).sha256


def test_digest_changes_with_content(small_book: Portfolio, tmp_path):
    table = small_book.to_table()
    principal = table["principal"].to_numpy().copy()
    principal[0] += 0.01
    changed = table.set_column(table.schema.get_field_index("principal"), "principal", [principal])
    pq.write_table(changed, tmp_path / "changed.parquet")
    assert load_portfolio(tmp_path / "changed.parquet").sha256 != small_book.sha256


def annuity(principal: float, annual_rate: float, term: int) -> float:
    """Textbook level payment P r / (1 - (1 + r)^-n), r the monthly rate (P / n when r = 0)."""
    r = annual_rate / 12
    return principal / term if r == 0 else principal * r / (1 - (1 + r) ** -term)


@pytest.mark.parametrize(
    ("principal", "rate", "term", "expected_cny"),
    [
        # r = 1% a month: 10000 * 0.01 / (1 - 1.01^-6) = 1725.4836 -> 1725.48
        (10000, 0.12, 6, 1725.48),
        # no interest: 1200 / 12
        (1200, 0.0, 12, 100.00),
        # one instalment left: principal plus a month's interest, 5000 * (1 + 0.01)
        (5000, 0.12, 1, 5050.00),
    ],
)
def test_instalment_is_the_annuity_when_absent(write_tape, principal, rate, term, expected_cny):
    assert round(annuity(principal, rate, term), 2) == expected_cny
    book = load_portfolio(write_tape([row(1, principal=principal, rate=rate, term=term)]))
    assert book.instalment.tolist() == [round(expected_cny * 100)]
    assert book.principal.tolist() == [principal * 100]


def test_instalment_is_taken_from_the_file_when_present(write_tape):
    rows = [
        row(1, "salaried", 700, 10000, 0.12, 6, 999.99),
        row(2, "salaried", 700, 10000, 0.12, 6, ""),
    ]
    book = load_portfolio(write_tape(rows, header=HEADER + ",instalment"))
    # row 1 from the file; row 2 has no value, so the annuity is computed (1725.48, above)
    assert book.instalment.tolist() == [99999, 172548]


def test_optional_columns_default(write_tape):
    book = load_portfolio(write_tape([row(1), row(2)]))
    assert book.dpd.tolist() == [0, 0]
    assert book.restructured.tolist() == [0, 0]
    assert book.monthly_income.tolist() == [0, 0]
    assert book.state.tolist() == [0, 0]  # current


def test_optional_columns_are_read(write_tape):
    header = HEADER + ",dpd,restructured,monthly_income"
    rows = [row(1, "self_employed", 800, 5000, 0.1, 3, 45, 1, 8000.5)]
    book = load_portfolio(write_tape(rows, header=header))
    assert book.dpd.tolist() == [45]
    assert book.state.tolist() == [2]  # 31-60 days past due: bucket M2
    assert book.restructured.tolist() == [1]
    assert book.monthly_income.tolist() == [800050]
    assert book.segment_names[book.segment[0]] == "self_employed"
    assert book.tier_names[book.tier[0]] == "A"  # 800 >= 750, the A cut-off


def test_tiers_follow_the_model_cut_offs(write_tape):
    model = load_model("default")
    scores = [t.min_score for t in model.tiers] + [t.min_score - 1 for t in model.tiers[:-1]]
    rows = [row(i, score=s) for i, s in enumerate(scores, 1)]
    book = load_portfolio(write_tape(rows), model=model)
    names = [model.tiers[t].name for t in book.tier]
    n = len(model.tiers)
    # a score at a cut-off is in that tier; one point below, in the next worse tier
    assert names[:n] == [t.name for t in model.tiers]
    assert names[n:] == [t.name for t in model.tiers[1:]]


def test_rate_warning(cli, write_tape):
    path = write_tape([row(1, rate=0.40), row(2, rate=0.12), row(3, rate=0.36)])
    book = load_portfolio(path)
    assert len(book) == 3
    assert any("1 loan(s) with annual_rate above 36%" in w for w in book.warnings)
    result = cli("portfolio", "check", path)
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output
    assert "annual_rate above 36%" in result.output


def test_no_warning_at_normal_rates(write_tape):
    assert load_portfolio(write_tape([row(1, rate=0.36)])).warnings == ()


def test_extra_column_is_ignored_with_a_warning(write_tape):
    book = load_portfolio(
        write_tape([row(1, "salaried", 700, 10000, 0.12, 6, "x")], header=HEADER + ",branch")
    )
    assert len(book) == 1
    assert any("branch" in w for w in book.warnings)


def test_parquet_with_numeric_columns(tmp_path):
    table = pa.table(
        {
            "loan_id": ["a", "b"],
            "segment": ["salaried", "micro_business"],
            "score": pa.array([700, 600], pa.int16()),
            "principal": [1000.0, 2500.5],
            "annual_rate": [0.1, 0.15],
            "remaining_term": pa.array([3, 12], pa.int8()),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    book = load_portfolio(tmp_path / "t.parquet")
    assert book.loan_id.tolist() == ["a", "b"]
    assert book.principal.tolist() == [100000, 250050]
    assert book.remaining_term.tolist() == [3, 12]


def test_parquet_bad_values_are_reported(cli, bad_input, tmp_path):
    table = pa.table(
        {
            "loan_id": [1, 2],
            "segment": ["salaried", "salaried"],
            "score": [700, 700],
            "principal": [1000.0, math.nan],
            "annual_rate": [0.1, 0.1],
            "remaining_term": [3, 3],
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    bad_input(cli("portfolio", "check", tmp_path / "t.parquet"), "t.parquet", "row 2, principal")


@pytest.mark.parametrize(
    ("header", "cells", "fragment"),
    [
        (HEADER, row(principal="1e20"), "row 1, principal"),
        (HEADER, row(principal="1e300"), "row 1, principal"),
        (HEADER, row(score="1e12"), "row 1, score"),
        (HEADER + ",restructured", row(1, "salaried", 700, 100, 0.1, 6, "1e12"), "restructured"),
        (HEADER + ",instalment", row(1, "salaried", 700, 100, 0.1, 6, "1e15"), "instalment"),
    ],
)
def test_absurd_values_are_refused_not_overflowed(write_tape, header, cells, fragment):
    """Values that would overflow the integer arrays (fen in int64, counts in int32)."""
    with pytest.raises(InputError, match=fragment):
        load_portfolio(write_tape([cells], header=header))


def test_check_json(cli, small_book: Portfolio, small_book_parquet):
    result = cli("portfolio", "check", small_book_parquet, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    n = len(small_book)
    assert summary["loans"] == n
    assert summary["sha256"] == small_book.sha256
    assert summary["warnings"] == []
    assert summary["principal"] == pytest.approx(small_book.principal.sum() / 100)
    for by in ("segment", "tier", "state"):
        assert sum(v["loans"] for v in summary[by].values()) == n, by
        total = sum(v["principal"] for v in summary[by].values())
        assert total == pytest.approx(summary["principal"]), by
    assert set(summary["segment"]) == set(small_book.segment_names)
    assert set(summary["tier"]) == set(small_book.tier_names)
    assert summary["state"]["current"]["loans"] == int((small_book.dpd == 0).sum())


def test_check_table_output(cli, small_book_csv):
    result = cli("portfolio", "check", small_book_csv)
    assert result.exit_code == 0, result.output
    for word in ("by segment", "by tier", "by state", "salaried", "micro_business", "current"):
        assert word in result.output


def test_check_against_another_model(cli, bad_input, write_tape, tmp_path):
    """Segments are checked against the model given with --model."""
    model = Path(load_model("default").source).read_text(encoding="utf-8")
    renamed = model.replace("[segments.salaried", "[segments.employee")
    (tmp_path / "other.toml").write_text(renamed, encoding="utf-8")
    path = write_tape([row(1, segment="employee")])
    assert cli("portfolio", "check", path, "--model", tmp_path / "other.toml").exit_code == 0
    bad_input(cli("portfolio", "check", path), "row 1, segment", "'employee'")
