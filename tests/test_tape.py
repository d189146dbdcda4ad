"""Loan tapes as lenders export them (``simulator.inputs.tape`` and the optional columns).

Covers: CSV in UTF-8 with a byte-order mark and in GB18030 with Chinese text (and Chinese
headers) in extra columns, detected or forced with ``encoding=``, and a file in neither with a
message naming the encodings tried; ``.xlsx`` workbooks (first sheet or one named, a header
below a title row) with the same checks and row numbers as CSV; ``monthly_income`` 0, blank or
unreadable taken as unknown and counted, never a rejection; ``original_term`` (read, checked
against the remaining term, used for new loans) and ``origination_date`` (YYYY-MM or a date);
bad values in required columns still rejected with row numbers; ``portfolio check`` and
``run`` on each kind of tape (exit status 0, or 2 and one message).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from simulator.engine.cohorts import new_lending_pool, new_loan_term
from simulator.errors import InputError
from simulator.inputs.portfolio import REQUIRED, Portfolio, load_portfolio
from simulator.inputs.synthetic import synthetic_portfolio
from simulator.inputs.tape import read_tape
from simulator.inputs.treasury import load_treasury

HEADER = ",".join(REQUIRED)
GOOD = [
    ["1", "salaried", "700", "10000", "0.12", "6"],
    ["2", "self_employed", "650", "2500.5", "0.15", "3"],
    ["3", "micro_business", "800", "30000", "0.1", "12"],
]
RUN = ("--paths", "2", "--horizon", "3", "--quiet", "--json")


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(",".join(r) for r in [header, *rows]) + "\n"


def with_branch(rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """The good rows with two extra columns in Chinese (branch and remarks)."""
    header = [*REQUIRED, "分行", "备注"]
    extra = [["北京分行", "按时还款"], ["上海分行", "客户电话：１３８"], ["深圳", "逾期一次"]]
    return header, [r + e for r, e in zip(rows, extra, strict=True)]


def write_xlsx(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for r in rows:
            sheet.append(r)
    workbook.save(path)
    return path


def as_cells(rows: list[list[str]]) -> list[list[object]]:
    """Text rows as Excel would type them: numbers as numbers."""

    def cell(text: str) -> object:
        try:
            return float(text)
        except ValueError:
            return text

    return [[cell(c) for c in r] for r in rows]


def same_book(a: Portfolio, b: Portfolio) -> None:
    assert a.sha256 == b.sha256
    assert a.loan_id.tolist() == b.loan_id.tolist()


@pytest.fixture
def utf8_book(tmp_path: Path) -> Portfolio:
    path = tmp_path / "plain.csv"
    path.write_text(csv_text(list(REQUIRED), GOOD), encoding="utf-8")
    return load_portfolio(path)


# --- encodings ------------------------------------------------------------------------------


def test_utf8_with_a_byte_order_mark(tmp_path: Path, utf8_book: Portfolio, cli) -> None:
    path = tmp_path / "bom.csv"
    header, rows = with_branch(GOOD)
    path.write_bytes(b"\xef\xbb\xbf" + csv_text(header, rows).encode("utf-8"))
    book = load_portfolio(path)
    same_book(book, utf8_book)
    assert book.warnings == ("ignored column(s): 分行, 备注",)
    assert read_tape(path).encoding == "utf-8"
    result = cli("portfolio", "check", path, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(_json(result.output))["loans"] == 3


def _json(output: str) -> str:
    """The JSON document of ``--json`` output (warnings come before it on standard error)."""
    return output[output.index("{") :]


def test_gb18030_with_chinese_text_in_extra_columns(
    tmp_path: Path, utf8_book: Portfolio, cli
) -> None:
    path = tmp_path / "gbk.csv"
    header, rows = with_branch(GOOD)
    data = csv_text(header, rows).encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the case of issue 11: "'utf-8' codec can't decode byte 0xb1"
    path.write_bytes(data)
    book = load_portfolio(path)
    same_book(book, utf8_book)
    assert read_tape(path).encoding == "gb18030"
    assert book.warnings == ("ignored column(s): 分行, 备注",)
    # forced: the same book; forced wrongly (UTF-8): one message naming the byte and line
    same_book(load_portfolio(path, encoding="gbk"), utf8_book)
    with pytest.raises(InputError, match=r"not utf-8 text: byte 0x\w\w on line 1"):
        load_portfolio(path, encoding="utf-8")
    result = cli("portfolio", "check", path)
    assert result.exit_code == 0, result.output
    assert "3 loans" in result.output


def test_gb18030_bad_rows_are_reported_with_their_rows(tmp_path: Path, cli, bad_input) -> None:
    path = tmp_path / "gbk.csv"
    header, rows = with_branch([GOOD[0], [*GOOD[1][:3], "-5", *GOOD[1][4:]], GOOD[2]])
    rows[2][1] = "学生"
    path.write_bytes(csv_text(header, rows).encode("gb18030"))
    bad_input(
        cli("portfolio", "check", path),
        "gbk.csv",
        "2 problem(s) in the loan tape (read as GB18030 by detection",
        "row 2, principal: -5",
        "row 3, segment: '学生'",
    )


def test_neither_utf8_nor_gb18030(tmp_path: Path, cli, bad_input) -> None:
    path = tmp_path / "utf16.csv"
    path.write_bytes(csv_text(list(REQUIRED), GOOD).encode("utf-16"))
    bad_input(
        cli("portfolio", "check", path),
        "utf16.csv",
        "neither UTF-8 (byte 0xff on line 1 cannot be decoded) nor GB18030",
        "--encoding",
    )
    assert len(load_portfolio(path, encoding="utf-16")) == 3


def test_unknown_encoding_name(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(csv_text(list(REQUIRED), GOOD))
    with pytest.raises(InputError, match="unknown encoding 'klingon'"):
        load_portfolio(path, encoding="klingon")


def test_a_latin1_header_read_as_gb18030_says_how_it_was_read(tmp_path, cli, bad_input) -> None:
    """Latin-1 bytes can be valid GB18030: the message shows the header as read, and how."""
    path = tmp_path / "latin1.csv"
    path.write_bytes(HEADER.replace("segment", "s\xe9gment").encode("latin-1") + b"\n")
    bad_input(
        cli("portfolio", "check", path),
        "latin1.csv",
        "missing required column(s) segment",
        "read as GB18030 by detection; --encoding chooses another",
    )


# --- Excel ------------------------------------------------------------------------------------


def test_xlsx_tape(tmp_path: Path, utf8_book: Portfolio, cli) -> None:
    header, rows = with_branch(GOOD)
    path = write_xlsx(tmp_path / "tape.xlsx", {"贷款明细": [header, *as_cells(rows)]})
    book = load_portfolio(path)
    same_book(book, utf8_book)  # whole numbers typed as numbers read as the CSV's text
    assert book.warnings == ("ignored column(s): 分行, 备注",)
    result = cli("portfolio", "check", path)
    assert result.exit_code == 0, result.output
    assert "3 loans" in result.output
    result = cli("run", "--portfolio", path, *RUN)
    assert result.exit_code == 0, result.output
    assert json.loads(_json(result.output))["runs"][0]["scenario"] == "baseline"


def test_xlsx_sheet_by_name_and_header_below_a_title(tmp_path: Path, utf8_book) -> None:
    sheets = {
        "notes": [["exported 2026-12-01"]],
        "loans": [["Loan tape, December"], [], list(REQUIRED), *as_cells(GOOD)],
    }
    path = write_xlsx(tmp_path / "tape.xlsx", sheets)
    with pytest.raises(InputError, match="missing required column"):
        load_portfolio(path)  # the first sheet is the notes
    same_book(load_portfolio(path, sheet="loans"), utf8_book)
    with pytest.raises(InputError, match="no sheet named 'Loans': the workbook has 'notes', "):
        load_portfolio(path, sheet="Loans")
    assert read_tape(path, REQUIRED, sheet="loans").first_row == 4


def test_xlsx_bad_rows_have_the_csv_row_numbers(tmp_path: Path, cli, bad_input) -> None:
    rows: list[list[object]] = as_cells(GOOD)
    rows[1][3] = "abc"  # principal of data row 2
    rows[2][2] = None  # missing score in data row 3
    rows.append([4, "salaried", 700, 1000, 1.5, 6])  # rate above 1 in data row 4
    path = write_xlsx(tmp_path / "tape.xlsx", {"Sheet1": [list(REQUIRED), *rows]})
    csv = tmp_path / "tape.csv"
    csv.write_text(csv_text(list(REQUIRED), [["" if c is None else str(c) for c in r]
                                              for r in rows]))  # fmt: skip
    fragments = ["3 problem(s)", "row 2, principal: 'abc'", "row 3, score", "row 4, annual_rate"]
    bad_input(cli("portfolio", "check", path), "tape.xlsx", *fragments,
              "sheet 'Sheet1', data row 1 is the sheet's row 2")  # fmt: skip
    bad_input(cli("portfolio", "check", csv), "tape.csv", *fragments)


def test_xlsx_typed_cells(tmp_path: Path) -> None:
    """Dates, booleans and fractional numbers become the text a CSV export would hold."""
    header = [*REQUIRED, "dpd", "origination_date"]
    rows: list[list[object]] = [
        [1, "salaried", 700, 10000, 0.12, 6, 0, dt.date(2025, 3, 1)],
        [2, "salaried", 700, 10000.25, 0.12, 6, None, dt.datetime(2025, 4, 15, 0, 0)],
        [3, "salaried", 700, 10000, 0.12, 6, True, "2025-05"],
    ]
    path = write_xlsx(tmp_path / "tape.xlsx", {"Sheet1": [header, *rows]})
    with pytest.raises(InputError) as info:
        load_portfolio(path)
    assert "1 problem(s)" in str(info.value) and "row 3, dpd: 'TRUE'" in str(info.value)
    rows[2][6] = 31
    book = load_portfolio(write_xlsx(tmp_path / "ok.xlsx", {"Sheet1": [header, *rows]}))
    assert book.loan_id.tolist() == ["1", "2", "3"]
    assert book.principal.tolist() == [1_000_000, 1_000_025, 1_000_000]
    assert book.dpd.tolist() == [0, 0, 31]
    assert book.origination_date.astype(str).tolist() == ["2025-03-01", "2025-04-15", "2025-05-01"]


def test_not_a_workbook(tmp_path: Path, cli, bad_input) -> None:
    path = tmp_path / "loans.xlsx"
    path.write_text(HEADER + "\n")
    bad_input(cli("portfolio", "check", path), "loans.xlsx", "not a readable Excel workbook")
    empty = write_xlsx(tmp_path / "empty.xlsx", {"Sheet1": []})
    bad_input(cli("portfolio", "check", empty), "empty.xlsx", "sheet 'Sheet1' is empty")


# --- optional columns --------------------------------------------------------------------------


def test_zero_and_blank_incomes_are_unknown_not_rejected(tmp_path: Path, cli) -> None:
    header = [*REQUIRED, "monthly_income"]
    rows = [GOOD[0] + ["0.0"], GOOD[1] + [""], GOOD[2] + ["8000.5"], ["4", *GOOD[0][1:], "0"]]
    path = tmp_path / "lending-club.csv"
    path.write_text(csv_text(header, rows))
    book = load_portfolio(path)
    assert book.monthly_income.tolist() == [0, 0, 800050, 0]
    assert book.warnings == ()
    assert book.summary()["unknown"]["monthly_income"] == 3
    result = cli("portfolio", "check", path, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["unknown"]["monthly_income"] == 3
    result = cli("portfolio", "check", path)
    assert result.exit_code == 0, result.output
    assert "monthly_income" in result.output and "3 of 4 unknown" in result.output
    assert "not used by the engine" in result.output
    result = cli("run", "--portfolio", path, *RUN)
    assert result.exit_code == 0, result.output


def test_unreadable_incomes_are_unknown_with_a_warning(tmp_path: Path, cli) -> None:
    header = [*REQUIRED, "monthly_income"]
    rows = [GOOD[0] + ["-3"], GOOD[1] + ["n.a."], GOOD[2] + ["1e20"]]
    path = tmp_path / "t.csv"
    path.write_text(csv_text(header, rows))
    book = load_portfolio(path)
    assert book.monthly_income.tolist() == [0, 0, 0]
    (warning,) = book.warnings
    assert warning.startswith("monthly_income: 3 value(s) that are not an amount in CNY")
    assert "row 1 '-3', row 2 'n.a.', row 3 '1e20'" in warning
    result = cli("portfolio", "check", path)
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "taken as unknown" in result.output


def test_original_term(tmp_path: Path) -> None:
    header = [*REQUIRED, "original_term", "origination_date"]
    rows = [GOOD[0] + ["12", "2025-07"], GOOD[1] + ["", "2025-11-20"], GOOD[2] + ["0", ""]]
    path = tmp_path / "t.csv"
    path.write_text(csv_text(header, rows))
    book = load_portfolio(path)
    assert book.original_term.tolist() == [12, 0, 0]  # 0: unknown
    assert book.origination_date.astype(str).tolist() == ["2025-07-01", "2025-11-20", "NaT"]
    assert book.summary()["unknown"] == {
        "monthly_income": 3, "original_term": 2, "origination_date": 1
    }  # fmt: skip
    # new loans drawn from a loan take its original term, else its remaining term rounded up
    # to a quarter (3 -> 3, 12 -> 12)
    assert new_loan_term(book).tolist() == [12, 3, 12]
    # the round trip through Parquet keeps both columns
    pq.write_table(book.to_table(), tmp_path / "t.parquet")
    again = load_portfolio(tmp_path / "t.parquet")
    assert again.original_term.tolist() == [12, 0, 0]
    assert again.origination_date.astype(str).tolist() == ["2025-07-01", "2025-11-20", "NaT"]
    assert again.sha256 == book.sha256


def test_new_loans_use_the_original_term() -> None:
    """A book whose loans have 1 instalment left of 12: new loans of 12 months, not 3."""
    book = synthetic_portfolio(400, seed=3)
    assert (book.original_term >= book.remaining_term).all()
    assert set(np.unique(book.original_term)) <= {3, 6, 12}
    pool = new_lending_pool(book, load_treasury("default"), horizon=6, seed=1)
    assert len(pool) > 0
    np.testing.assert_array_equal(pool.remaining_term, book.original_term[pool.template])
    rounded = -(-book.remaining_term[pool.template] // 3) * 3
    assert (pool.remaining_term != rounded).any()  # the fallback would give other terms


@pytest.mark.parametrize(
    ("cells", "fragment"),
    [
        ("5", "row 1, original_term: 5.0 - expected at least the remaining_term"),
        ("6.5", "row 1, original_term: 6.5 - expected a whole number of instalments"),
        ("-12", "row 1, original_term: -12.0 - expected a whole number of instalments"),
        ("twelve", "row 1, original_term: 'twelve' - expected a number"),
    ],
)
def test_bad_original_term_is_rejected_with_its_row(tmp_path, cli, bad_input, cells, fragment):
    """The engine uses original_term (new loans' terms): a value that is there but impossible
    blocks the tape, like a bad value in a required column."""
    path = tmp_path / "t.csv"
    path.write_text(csv_text([*REQUIRED, "original_term"], [GOOD[0] + [cells]]))
    bad_input(cli("portfolio", "check", path), "t.csv", "1 problem(s)", fragment)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03", "2024-03-01"),
        ("2024-3", "2024-03-01"),
        ("2024-03-15", "2024-03-15"),
        ("2024/03/15", "2024-03-15"),
        ("2024-03-15 00:00:00", "2024-03-15"),
        ("2024-03-15T08:30", "2024-03-15"),
        ("202403", "2024-03-01"),
        ("20240315", "2024-03-15"),
        ("0000-00-00", "NaT"),  # a database's zero date: unknown, no warning
        ("0", "NaT"),
        ("", "NaT"),
    ],
)
def test_origination_date_formats(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(csv_text([*REQUIRED, "origination_date"], [GOOD[0] + [text]]))
    book = load_portfolio(path)
    assert book.origination_date.astype(str).tolist() == [expected]
    assert book.warnings == ()


def test_unreadable_origination_dates_are_unknown_with_a_warning(tmp_path: Path) -> None:
    rows = [GOOD[0] + ["2024-13"], GOOD[1] + ["2024-02-30"], GOOD[2] + ["March 2024"]]
    path = tmp_path / "t.csv"
    path.write_text(csv_text([*REQUIRED, "origination_date"], rows))
    book = load_portfolio(path)
    assert np.isnat(book.origination_date).all()
    (warning,) = book.warnings
    assert "origination_date: 3 value(s) that are not a date" in warning
    assert "row 1 '2024-13', row 2 '2024-02-30', row 3 'March 2024'" in warning


def test_origination_date_from_typed_parquet(tmp_path: Path) -> None:
    table = pa.table(
        {
            **{name: [c[i] for c in GOOD] for i, name in enumerate(REQUIRED)},
            "origination_date": pa.array([dt.date(2025, 1, 31), None, dt.date(1066, 10, 14)]),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    book = load_portfolio(tmp_path / "t.parquet")
    assert book.origination_date.astype(str).tolist() == ["2025-01-31", "NaT", "NaT"]
    assert "row 3" in book.warnings[0]


# --- required columns still block, from every reader --------------------------------------------


def test_required_columns_still_block_with_row_numbers(tmp_path: Path, cli, bad_input) -> None:
    header = [*REQUIRED, "monthly_income", "origination_date"]
    rows = [
        GOOD[0] + ["0", "bad date"],
        ["2", "salaried", "", "1000", "0.1", "3", "", ""],
        ["3", "salaried", "700", "1000", "0.1", "0", "abc", "2024-01"],
    ]
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xef\xbb\xbf" + csv_text(header, rows).encode("utf-8"))
    result = cli("portfolio", "check", path)
    bad_input(result, "t.csv", "2 problem(s)", "row 2, score", "row 3, remaining_term")
    assert "monthly_income" not in result.output.split("problem(s)")[1]
    assert not list(tmp_path.glob("*.nc"))
    result = cli("run", "--portfolio", path, "--paths", "2", "--out", tmp_path / "r.nc")
    bad_input(result, "t.csv", "row 2, score", "row 3, remaining_term")
    assert not (tmp_path / "r.nc").exists()


# --- the command line: --encoding and --sheet on check, run and compare --------------------------


def test_encoding_and_sheet_options(tmp_path: Path, cli, bad_input) -> None:
    header, rows = with_branch(GOOD)
    big5 = tmp_path / "big5.csv"
    traditional = [*REQUIRED, "分行", "備註"]  # Big5 holds traditional characters
    big5.write_bytes(csv_text(traditional, [[*r[:6], "台北", "正常"] for r in rows]).encode("big5"))
    book = write_xlsx(tmp_path / "book.xlsx", {"notes": [["x"]], "loans": [header, *rows]})
    for command in (["portfolio", "check"], ["run", *RUN, "--portfolio"],
                    ["compare", *RUN, "--policy", "standard", "--policy", "grace",
                     "--portfolio"]):  # fmt: skip
        result = cli(*command, big5, "--encoding", "big5")
        assert result.exit_code == 0, result.output
        result = cli(*command, book, "--sheet", "loans")
        assert result.exit_code == 0, result.output
        bad_input(cli(*command, book, "--sheet", "Loans"), "book.xlsx", "no sheet named 'Loans'")
        bad_input(cli(*command, book, "--encoding", "gbk"), "--encoding applies to CSV files")
        bad_input(cli(*command, big5, "--sheet", "loans"), "--sheet applies to Excel workbooks")
    bad_input(cli("run", "--encoding", "gbk", *RUN), "--encoding and --sheet describe the")
    result = cli("portfolio", "check", "--help")
    assert result.exit_code == 0 and "--encoding" in result.output and "--sheet" in result.output
