"""The loan-month panel reader (SPEC 12): good panels in CSV and Parquet read the same; every
kind of bad panel gets its own message with row numbers, all reported together, exit status 2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from benchmarks.panels import PanelSpec, simulate_panel
from simulator.errors import InputError
from simulator.inputs.model import load_model
from simulator.inputs.panel import load_panel, month_text, parse_month
from simulator.states import CHARGED_OFF, CURRENT, PAID_OFF

HEADER = "loan_id,month,segment,score,dpd,principal"


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    return load_model("default")


@pytest.fixture
def write_panel(tmp_path: Path) -> Callable[..., Path]:
    def write(rows: list[str], header: str = HEADER, name: str = "panel.csv") -> Path:
        path = tmp_path / name
        path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
        return path

    return write


GOOD = [
    "L1,2024-01,salaried,700,0,1000",
    "L1,2024-02,salaried,700,15,1000",
    "L1,2024-03,salaried,700,dpd_31_60,1000",
    "L2,2024-01,self_employed,600,current,500",
    "L2,2024-02,self_employed,600,paid_off,0",
    "L3,2024-03,micro_business,800,0,300",
]


def test_a_good_panel_reads_sorted_and_coded(write_panel, model) -> None:  # type: ignore[no-untyped-def]
    rows = [GOOD[i] for i in (5, 2, 0, 4, 1, 3)]  # any row order
    panel = load_panel(write_panel(rows), model)
    assert len(panel) == 6
    assert panel.window() == "2024-01 to 2024-03"
    l1 = panel.loan == list(panel.loan_ids).index("L1")
    assert list(panel.month[l1]) == [parse_month(m) for m in ("2024-01", "2024-02", "2024-03")]
    assert list(panel.state[l1]) == [CURRENT, 1, 2]  # 0 days, 15 days, dpd_31_60
    assert list(panel.dpd[l1]) == [0, 15, 60]
    assert list(panel.row[l1]) == [3, 5, 2]  # the file's data rows of L1's months
    assert panel.state[panel.loan == list(panel.loan_ids).index("L2")][-1] == PAID_OFF
    assert panel.tier_names == model.tier_names


def test_csv_and_parquet_give_the_same_panel(tmp_path: Path, model) -> None:  # type: ignore[no-untyped-def]
    table = simulate_panel(model, PanelSpec(loans=200, months=6, seed=1)).table
    pacsv.write_csv(table, tmp_path / "p.csv")
    pq.write_table(table, tmp_path / "p.parquet")
    a, b = load_panel(tmp_path / "p.csv", model), load_panel(tmp_path / "p.parquet", model)
    for name in ("loan", "month", "state", "segment", "tier", "remaining_term", "restructured"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_allclose(a.principal, b.principal)
    assert (a.state == CHARGED_OFF).any()


def test_an_excel_panel_reads_like_its_csv(write_panel, model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Loan history, exported 2024-04"])  # a title row above the header
    sheet.append(HEADER.split(","))
    for row in GOOD:
        cells = row.split(",")
        sheet.append([cells[0], cells[1], cells[2], int(cells[3]), cells[4], float(cells[5])])
    book.save(tmp_path / "panel.xlsx")
    xlsx, csv = load_panel(tmp_path / "panel.xlsx", model), load_panel(write_panel(GOOD), model)
    for name in ("loan", "month", "state", "dpd", "segment", "tier", "row"):
        np.testing.assert_array_equal(getattr(xlsx, name), getattr(csv, name))


def test_months_round_trip() -> None:
    assert month_text(parse_month("2024-07") or 0) == "2024-07"
    assert parse_month("2024-13") is None
    assert parse_month("July 2024") is None


@pytest.mark.parametrize(
    ("rows", "fragments"),
    [
        (
            ["L1,2024-01,salaried,700,0,1000", "L1,2024-01,salaried,700,0,1000"],
            ["rows 1 and 2: loan 'L1' has two rows for 2024-01", "one row per loan and month"],
        ),
        (
            [
                "L1,2024-01,salaried,700,0,1000",
                "L1,2024-04,salaried,700,0,1000",
                "L2,2024-02,salaried,700,0,1",
                "L2,2024-03,salaried,700,0,1",
            ],
            ["row 2: loan 'L1' jumps from 2024-01 to 2024-04 (2 month(s) missing)"],
        ),
        (
            ["L1,2024-01,salaried,700,0,1000", "L1,2024-02,salaried,700,45,1000"],
            ["row 2: loan 'L1' 2024-02: current -> dpd_31_60, more than one bucket worse"],
        ),
        (
            [
                "L1,2024-01,salaried,700,dpd_121_150,1000",
                "L1,2024-02,salaried,700,charged_off,1000",
            ],
            ["dpd_121_150 -> charged_off, more than one bucket worse", "charge-off only from"],
        ),
        (
            ["L1,2024-01,salaried,700,charged_off,1000", "L1,2024-02,salaried,700,0,1000"],
            ["row 2: loan 'L1' 2024-02: charged_off -> current, a charged-off loan back on book"],
        ),
        (
            ["L1,2024-01,salaried,700,paid_off,0", "L1,2024-02,salaried,700,0,1000"],
            ["paid_off -> current, a move out of a closed state"],
        ),
        (
            ["L1,2024-01,retired,700,0,1000"],
            ["row 1, segment: 'retired' - expected one of the model's segments: salaried"],
        ),
        (
            ["L1,2024-01,salaried,700,0,1000", "L2,2024-03,salaried,700,0,1000"],
            ["month 2024-02: no rows (the panel runs from 2024-01 to 2024-03)"],
        ),
        (
            ["L1,2024-1x,salaried,700,181,abc"],
            [
                "row 1, month: '2024-1x' - expected a month YYYY-MM",
                "row 1, dpd: '181' - expected whole days past due from 0 to 180",
                "row 1, principal: 'abc' - expected an amount in CNY",
            ],
        ),
        (
            [",2024-01,salaried,200,0,1000"],
            [
                "row 1, loan_id: expected an id (missing)",
                "row 1, score: '200' - expected a whole score from 300",
            ],
        ),
    ],
    ids=[
        "duplicate",
        "gap",
        "jump",
        "chargeoff-jump",
        "reopened",
        "closed",
        "segment",
        "empty-month",
        "values",
        "id-score",
    ],
)
def test_every_bad_panel_gets_its_message(write_panel, model, rows, fragments) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as err:
        load_panel(write_panel(rows), model)
    message = str(err.value)
    assert message.startswith(str(write_panel(rows)))
    assert "problem(s) in the panel" in message
    for fragment in fragments:
        assert fragment in message, message


def test_all_problems_are_reported_together(write_panel, model) -> None:  # type: ignore[no-untyped-def]
    rows = [
        "L1,2024-01,salaried,700,0,1000",
        "L1,2024-02,salaried,700,75,1000",  # jump
        "L2,2024-01,salaried,700,0,1000",
        "L2,2024-01,salaried,700,0,1000",  # duplicate
        "L3,2024-01,salaried,700,0,1000",
        "L3,2024-03,salaried,700,0,1000",  # gap
    ]
    with pytest.raises(InputError) as err:
        load_panel(write_panel(rows), model)
    text = str(err.value)
    assert "3 problem(s)" in text
    assert "two rows for 2024-01" in text and "jumps from" in text and "bucket worse" in text


def test_missing_columns_and_empty_files(write_panel, model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="missing required column"):
        load_panel(write_panel(["L1,2024-01,salaried"], header="loan_id,month,segment"), model)
    with pytest.raises(InputError, match="no rows"):
        load_panel(write_panel([]), model)
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        load_panel(tmp_path / "empty.csv", model)
    with pytest.raises(InputError, match=r"ending in \.csv, \.parquet or \.xlsx"):
        load_panel(tmp_path / "panel.txt", model)


def test_a_bad_panel_exits_2_from_the_cli(write_panel, cli, bad_input, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_panel(["L1,2024-01,salaried,700,0,1000", "L1,2024-02,salaried,700,45,1000"])
    out = tmp_path / "fitted.toml"
    result = cli("calibrate", path, "--out", out)
    bad_input(result, "panel.csv", "row 2", "more than one bucket worse")
    assert not out.exists()  # nothing half-written
