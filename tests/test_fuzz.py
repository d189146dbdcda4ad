"""Property tests (hypothesis): no input file makes a loader fail with anything but InputError.

(a) The loan tape loader on arbitrary CSV text (headers drawn from the known column names plus
    junk, cells such as "", "nan", "inf", "-1", huge numbers, dates and unicode), on CSV text
    with all the required columns (so that the row checks run), on arbitrary bytes saved as
    .csv, .parquet or .xlsx, on that CSV text in GB18030 or behind a byte-order mark, and on
    workbooks of arbitrary typed cells: ``load_portfolio`` returns a Portfolio whose arrays all
    have one length and whose principal is > 0, or raises ``InputError``. Stronger: the same
    text as GB18030 (forced), as UTF-8 with a BOM, and as the text cells of a workbook gives the
    same book as the UTF-8 CSV, or the same refusal; and a good tape with arbitrary cells in
    the unused columns (``monthly_income``, ``origination_date``) always loads.
(b) The four TOML loaders on mutated shipped files (values replaced by random numbers, strings,
    negatives, arrays or tables; keys deleted or added), on random TOML documents, and on
    arbitrary text and bytes: a valid object, or ``InputError``.

TOML documents are written with the tiny writer below (everything as inline values).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import math
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from simulator.errors import InputError
from simulator.inputs.files import KINDS, resolve, shipped_names
from simulator.inputs.model import load_model
from simulator.inputs.policy import load_policy
from simulator.inputs.portfolio import OPTIONAL, REQUIRED, Portfolio, load_portfolio
from simulator.inputs.scenario import load_scenario
from simulator.inputs.treasury import load_treasury

MODEL = load_model("default")
LOADERS = {
    "model": load_model,
    "scenario": load_scenario,
    "policy": load_policy,
    "treasury": load_treasury,
}
ARRAYS = (
    "loan_id",
    "segment",
    "tier",
    "score",
    "principal",
    "annual_rate",
    "remaining_term",
    "instalment",
    "dpd",
    "restructured",
    "monthly_income",
)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """One folder for the whole module (hypothesis re-runs a test body many times)."""
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


# --- (a) loan tapes -------------------------------------------------------------------------

COLUMNS = st.sampled_from([*REQUIRED, *OPTIONAL, "junk", "", "Loan_ID", "分行", "principal "])
CELLS = st.one_of(
    st.sampled_from(
        [
            "",
            "nan",
            "NaN",
            "inf",
            "-inf",
            "-1",
            "0",
            "1",
            "700",
            "0.12",
            "0.5",
            "1.5",
            "6",
            "2.5",
            "180",
            "181",
            "1e308",
            "1e400",
            "-1e400",
            "9" * 40,
            "1e20",
            "abc",
            "salaried",
            "self_employed",
            "micro_business",
            "学生",
            "ü",
            '"1,5"',
            "true",
            "2024-01-01",
            "2024-03",
            "2024-13",
            "2024-02-30",
            "0000-00-00",
            "20240315",
            "1066-10-14",
            "NULL",
        ]
    ),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.floats().map(repr),
    st.text(max_size=8).filter(lambda s: "," not in s and "\n" not in s and "\r" not in s),
)


def check_tape(path: Path) -> None:
    """The property: a consistent Portfolio, or InputError."""
    try:
        book = load_portfolio(path, model=MODEL)
    except InputError:
        return
    check_book(book)


def check_book(book: Portfolio) -> None:
    assert isinstance(book, Portfolio)
    n = len(book)
    assert n >= 1
    for name in ARRAYS:
        assert len(getattr(book, name)) == n, name
    assert (book.principal > 0).all()
    assert (book.instalment > 0).all()
    assert (book.remaining_term >= 1).all()
    assert ((book.annual_rate >= 0) & (book.annual_rate <= 1)).all()
    assert ((book.dpd >= 0) & (book.dpd <= 180)).all()
    assert ((book.tier >= 0) & (book.tier < len(book.tier_names))).all()
    assert ((book.segment >= 0) & (book.segment < len(book.segment_names))).all()
    known = book.original_term > 0
    assert (book.original_term[known] >= book.remaining_term[known]).all()
    assert (book.original_term >= 0).all() and (book.monthly_income >= 0).all()
    years = book.origination_date.astype("datetime64[Y]").astype(int) + 1970
    assert ((years >= 1900) & (years <= 2100) | np.isnat(book.origination_date)).all()
    assert len(book.sha256) == 64


@given(
    header=st.lists(COLUMNS, min_size=0, max_size=12),
    rows=st.lists(st.lists(CELLS, min_size=0, max_size=12), max_size=6),
)
def test_tape_from_arbitrary_csv_text(workdir, header, rows):
    path = workdir / "fuzz.csv"
    lines = [",".join(header), *(",".join(r) for r in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    check_tape(path)


@given(
    extra=st.lists(COLUMNS, max_size=3),
    rows=st.lists(st.lists(CELLS, min_size=6, max_size=9), min_size=1, max_size=6),
)
def test_tape_with_the_required_columns(workdir, extra, rows):
    """All required columns present, so each cell goes through the row checks."""
    header = [*REQUIRED, *extra]
    path = workdir / "fuzz.csv"
    lines = [",".join(header), *(",".join(r[: len(header)]) for r in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    check_tape(path)


@given(
    values=st.lists(
        st.tuples(
            st.sampled_from(["salaried", "micro_business", "x"]),
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(min_value=-1, max_value=2),
            st.integers(min_value=-5, max_value=700),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_tape_from_typed_parquet(workdir, values):
    """A real Parquet file whose numeric columns hold arbitrary floats."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    segment, score, principal, rate, term = map(list, zip(*values, strict=True))
    table = pa.table(
        {
            "loan_id": list(range(len(values))),
            "segment": segment,
            "score": score,
            "principal": principal,
            "annual_rate": rate,
            "remaining_term": term,
        }
    )
    path = workdir / "fuzz.parquet"
    pq.write_table(table, path)
    check_tape(path)


@given(data=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".parquet", ".xlsx"]))
@example(data=b"\x80\n", suffix=".csv")  # a header that is neither UTF-8 nor GB18030
@example(data=b"PAR1" + bytes(20) + b"PAR1", suffix=".parquet")  # Parquet magic, no content
@example(data=b"PK\x03\x04" + bytes(30), suffix=".xlsx")  # a zip's magic, no content
def test_tape_from_arbitrary_bytes(workdir, data, suffix):
    path = workdir / f"fuzz{suffix}"
    path.write_bytes(data)
    check_tape(path)


@given(data=st.binary(max_size=200))
def test_tape_from_csv_with_binary_cells(workdir, data):
    """A good header followed by arbitrary bytes (bad UTF-8 included)."""
    path = workdir / "fuzz.csv"
    path.write_bytes(",".join(REQUIRED).encode() + b"\n" + data)
    check_tape(path)


def outcome(path: Path, **options: Any) -> str:
    """The book's digest, or "refused"."""
    try:
        book = load_portfolio(path, model=MODEL, **options)
    except InputError:
        return "refused"
    check_book(book)
    return book.sha256


def plain(cell: str) -> bool:
    """A cell that a CSV and a workbook hold as it is and that is not a missing-value marker."""
    quoted = any(c in cell for c in ',"') or any(ord(c) < 32 for c in cell)
    return cell not in NULL_MARKERS and not quoted and cell == cell.strip()


NULL_MARKERS = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
                "1.#QNAN", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null"}  # fmt: skip
GOOD_CELLS = {
    "loan_id": st.one_of(
        st.integers(1, 10**6).map(str), st.from_regex(r"[A-Z]{2}\d{3}", fullmatch=True)
    ),
    "segment": st.sampled_from(["salaried", "self_employed", "micro_business"]),
    "score": st.integers(300, 950).map(str),
    "principal": st.decimals("0.01", "1000000", places=2).map(str),
    "annual_rate": st.decimals("0", "1", places=4).map(str),
    "remaining_term": st.integers(1, 24).map(str),
    "original_term": st.integers(24, 48).map(str),
    "origination_date": st.dates(dt.date(1890, 1, 1), dt.date(2110, 1, 1)).map(str),
    "分行": st.sampled_from(["北京分行", "上海", "深圳南山支行"]),
}


def mostly_good(column: str) -> st.SearchStrategy[str]:
    """A good value for the column 19 times in 20, else any plain cell."""
    junk = CELLS.filter(plain)
    return st.integers(0, 19).flatmap(lambda i: junk if i == 0 else GOOD_CELLS[column])


@given(data=st.data(), extra=st.sampled_from(["分行", "original_term", "origination_date"]))
def test_tape_in_other_encodings_and_in_a_workbook_reads_as_in_utf8(workdir, data, extra):
    import openpyxl

    header = [*REQUIRED, extra]
    row = st.tuples(*(mostly_good(c) for c in header)).map(list)
    rows = data.draw(st.lists(row, min_size=1, max_size=4))
    text = "\n".join(",".join(r) for r in [header, *rows]) + "\n"
    (workdir / "utf8.csv").write_text(text, encoding="utf-8")
    expected = outcome(workdir / "utf8.csv")
    (workdir / "gb.csv").write_bytes(text.encode("gb18030"))
    assert outcome(workdir / "gb.csv", encoding="gb18030") == expected
    check_tape(workdir / "gb.csv")  # detected: a book or a refusal
    (workdir / "bom.csv").write_bytes(text.encode("utf-8-sig"))
    assert outcome(workdir / "bom.csv") == expected
    workbook = openpyxl.Workbook()
    for r in [header, *rows]:
        workbook.active.append(r)  # every cell a text cell
    workbook.save(workdir / "tape.xlsx")
    assert outcome(workdir / "tape.xlsx") == expected


XLSX_CELLS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.dates(min_value=dt.date(1900, 1, 1)),
    st.datetimes(min_value=dt.datetime(1900, 1, 1)),
    CELLS.filter(lambda s: not any(ord(c) < 32 for c in s)),
)


@given(rows=st.lists(st.lists(XLSX_CELLS, min_size=6, max_size=9), min_size=1, max_size=5),
       header=st.lists(COLUMNS, max_size=3))  # fmt: skip
def test_tape_from_a_workbook_of_typed_cells(workdir, rows, header):
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.active.append([*REQUIRED, *header])
    for r in rows:
        workbook.active.append(r)
    workbook.save(workdir / "typed.xlsx")
    check_tape(workdir / "typed.xlsx")


@given(cells=st.lists(st.tuples(CELLS, CELLS), min_size=3, max_size=3))
def test_unused_columns_never_block_a_tape(workdir, cells):
    header = [*REQUIRED, "monthly_income", "origination_date"]
    good = ["1,salaried,700,10000,0.12,6", "2,salaried,700,100,0.1,3", "3,salaried,600,50,0,1"]
    lines = [",".join(header), *(f"{g},{a},{b}" for g, (a, b) in zip(good, cells, strict=True))]
    path = workdir / "unused.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    book = load_portfolio(path, model=MODEL)
    check_book(book)
    assert len(book) == 3


# --- (b) TOML files -------------------------------------------------------------------------


def toml_string(text: str) -> str:
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def toml_value(value: Any) -> str:
    """A tiny TOML writer: every value inline, keys always quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
        )
    raise TypeError(type(value))


def toml_document(doc: dict[str, Any]) -> str:
    return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in doc.items())


def test_toml_writer_round_trips():
    for kind in KINDS:
        for name in shipped_names(kind):
            doc = tomllib.loads(resolve(kind, name).read_text(encoding="utf-8"))
            assert tomllib.loads(toml_document(doc)) == doc


SCALARS = st.one_of(
    st.floats(),
    st.floats(min_value=-2, max_value=2),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.integers(min_value=-3, max_value=30),
    st.sampled_from([0, 1, -1, 0.0, 1.0, -1.0, 1e-12, 10**400, "", "A", "dpd_1_30", "holiday"]),
    st.booleans(),
    st.text(max_size=10),
    st.dates(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
    ),
    max_leaves=8,
)


def locations(value: Any, where: tuple = ()) -> Iterator[tuple]:
    """Every key path in a parsed document (dict keys and list indices)."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in items:
        yield (*where, key)
        if isinstance(child, dict | list):
            yield from locations(child, (*where, key))


def mutate(doc: dict[str, Any], path: tuple, action: str, new: Any) -> None:
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if action == "delete":
        del parent[key]
    elif action == "replace":
        parent[key] = new
    elif isinstance(parent, dict):  # "add": a sibling key, e.g. a typo
        parent[f"{key}_x"] = new
    else:
        parent.append(new)


SHIPPED = [(kind, name) for kind in KINDS for name in shipped_names(kind)]


def check_config(kind: str, path: Path) -> None:
    try:
        obj = LOADERS[kind](path)
    except InputError:
        return
    assert obj.name == path.stem
    assert obj.text == path.read_text(encoding="utf-8")


@settings(max_examples=150)
@given(
    file=st.sampled_from(SHIPPED),
    data=st.data(),
    edits=st.integers(min_value=1, max_value=3),
)
def test_toml_loaders_on_mutated_shipped_files(workdir, file, data, edits):
    kind, name = file
    doc = tomllib.loads(resolve(kind, name).read_text(encoding="utf-8"))
    for _ in range(edits):
        where = list(locations(doc))
        if not where:
            break
        path = data.draw(st.sampled_from(where))
        action = data.draw(st.sampled_from(["delete", "replace", "replace", "add"]))
        mutate(doc, path, action, data.draw(VALUES))
    target = workdir / f"{name}.toml"
    target.write_text(toml_document(doc), encoding="utf-8")
    check_config(kind, target)


KNOWN_KEYS = st.sampled_from(
    [
        "description",
        "horizon",
        "start",
        "factor",
        "macro",
        "history",
        "segments",
        "tiers",
        "macro_scale",
        "collections",
        "grace",
        "early_warning",
        "basis",
        "funding",
        "new_lending",
        "phi",
        "sigma",
        "file",
    ]
)


@given(
    kind=st.sampled_from(KINDS),
    doc=st.dictionaries(st.one_of(KNOWN_KEYS, st.text(max_size=6)), VALUES, max_size=6),
)
def test_toml_loaders_on_random_documents(workdir, kind, doc):
    target = workdir / "random.toml"
    target.write_text(toml_document(doc), encoding="utf-8")
    assert toml_document(tomllib.loads(target.read_text(encoding="utf-8"))) == toml_document(doc)
    check_config(kind, target)


@given(kind=st.sampled_from(KINDS), text=st.text(max_size=200))
def test_toml_loaders_on_arbitrary_text(workdir, kind, text):
    target = workdir / "text.toml"
    target.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    with contextlib.suppress(InputError):
        LOADERS[kind](target)


@given(kind=st.sampled_from(KINDS), data=st.binary(max_size=200))
def test_toml_loaders_on_arbitrary_bytes(workdir, kind, data):
    target = workdir / "bytes.toml"
    target.write_bytes(data)
    with contextlib.suppress(InputError):
        LOADERS[kind](target)


def test_deeply_nested_toml_is_an_input_error(workdir):
    target = workdir / "deep.toml"
    target.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="invalid TOML"):
        load_policy(target)


def test_overlong_integer_is_an_input_error(workdir):
    target = workdir / "long.toml"
    target.write_text("description = " + "9" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="invalid TOML"):
        load_policy(target)


def test_the_property_can_fail(workdir):
    """``check_book`` accepts a good book and rejects one with a zero principal."""
    path = workdir / "ok.csv"
    path.write_text(",".join(REQUIRED) + "\n1,salaried,700,100,0.1,6\n", encoding="utf-8")
    book = load_portfolio(path, model=MODEL)
    check_book(book)
    with pytest.raises(AssertionError):
        check_book(dataclasses.replace(book, principal=np.array([0])))
    with pytest.raises(AssertionError):
        check_book(dataclasses.replace(book, dpd=np.array([0, 0])))
