"""Backtesting (SPEC 12): the as-of book reads nothing after the as-of month; traffic lights are
mostly green for the model that generated the panel and red for one whose roll rates are half
or double the truth; the CLI prints, writes JSON and HTML, and refuses bad input."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from benchmarks.panels import PanelSpec, simulate_panel
from simulator.calibration import backtest, load_macro
from simulator.calibration.backtesting import WINDOW, as_of_book, light
from simulator.inputs.model import Model, load_model
from simulator.inputs.panel import Panel, load_panel, parse_month
from simulator.states import M6

HISTORY = Path(__file__).with_name("data") / "china_unemployment.csv"
BETA = 0.5
MONTHS, AS_OF = 30, 18  # the panel's months, and the as-of month's offset from its first


def _model(rho: float | None = None) -> Model:
    base = load_model("default")
    beta = {"unemployment_rate": BETA}
    return replace(
        base,
        segments=tuple(
            replace(s, beta=beta, rho=s.rho if rho is None else rho) for s in base.segments
        ),
    )


def doubled_rolls(model: Model, factor: float = 2.0) -> Model:
    """Every roll (to the next bucket; the miss from current) times ``factor``, out of the stay
    (capped by it)."""

    def scale(matrix: np.ndarray) -> np.ndarray:
        out = matrix.copy()
        for s in range(M6 + 1):
            roll, stay = out[s, s + 1], out[s, s]
            new = min(factor * roll, roll + stay)  # from current: the stay is paying
            out[s, s], out[s, s + 1] = stay + roll - new, new
        return out

    segments = tuple(
        replace(s, normal=scale(s.normal), restructured=scale(s.restructured))
        for s in model.segments
    )
    return replace(model, segments=segments)


def _panel(model: Model, tmp_path: Path, seed: int) -> Panel:
    history = load_macro(HISTORY, model)
    x = history.values["unemployment_rate"][: MONTHS + 1]
    macro = np.repeat((-BETA * (x[1:] - x[0]))[:, None], len(model.segments), axis=1)
    spec = PanelSpec(
        loans=3000, months=MONTHS, seed=seed, phi=0.5, macro=macro, start=history.first_month
    )
    path = tmp_path / f"panel-{seed}.parquet"
    pq.write_table(simulate_panel(model, spec).table, path)
    return load_panel(path, model)


def _run(panel: Panel, model: Model, paths: int = 300, seed: int = 0):  # type: ignore[no-untyped-def]
    history = load_macro(HISTORY, model)
    return backtest(
        panel,
        model,
        panel.first_month + AS_OF,
        history,
        paths=paths,
        seed=seed,
        macro_reference=panel.first_month,
        phi=0.5,
    )


def test_lights() -> None:
    assert light(0.5) == ("green", "")
    assert light(0.96) == ("yellow", "high") and light(0.9995) == ("red", "high")
    assert light(0.03) == ("yellow", "low") and light(0.0) == ("red", "low")


def test_the_as_of_book_reads_nothing_after_the_as_of_month(tmp_path: Path) -> None:
    model = _model()
    panel = _panel(model, tmp_path, seed=1)
    as_of = panel.first_month + AS_OF
    book, _ = as_of_book(panel, model, as_of)
    later = panel.month > as_of
    changed = replace(
        panel,
        principal=np.where(later, 1.0, panel.principal),
        annual_rate=np.where(later, 0.3, panel.annual_rate),
        remaining_term=np.where(later, 99, panel.remaining_term),
        state=np.where(later, 0, panel.state).astype(np.int8),
    )
    again, _ = as_of_book(changed, model, as_of)
    assert book.sha256 == again.sha256
    assert len(book) > 2000
    assert (book.dpd > 0).any() and (book.restructured > 0).any()


@pytest.mark.slow
def test_the_true_model_is_mostly_green(tmp_path: Path) -> None:
    """Three panels of the model itself: realised values fall inside the simulated 5-95% band
    about 90% of the time (two-sided), rarely beyond 0.1%/99.9% (measured: 85% green, 2% red
    of 351 checks; months of one panel share the factor, so the share moves in steps)."""
    model = _model()
    checks = [c for seed in (11, 12, 13) for c in _run(_panel(model, tmp_path, seed), model).checks]
    lights = [c.light for c in checks]
    green, red = lights.count("green") / len(lights), lights.count("red") / len(lights)
    print(f"{len(lights)} checks: green {green:.2f}, red {red:.2f}")
    assert len(checks) == 3 * 9 * (MONTHS - AS_OF + 1)  # 9 metrics, each month and the window
    assert green >= 0.75 and red <= 0.05


@pytest.mark.slow
def test_doubled_roll_rates_are_red(tmp_path: Path) -> None:
    """Data from a book whose roll rates are twice the model's: red (high) over the window for
    the 90+ DPD ratio and at least two more of the roll and charge-off rates, and the Jeffreys test
    rejects on the first buckets; the model with doubled roll rates on the true book's data: the
    same, low. (Roll rates are flow rates of account stocks, as lenders report them: a doubled
    roll out of 1-30 DPD empties the bucket, so its flow rate moves less than the roll.)

    With little systematic risk (rho = 0.01): at the default model's rho (0.08-0.12) a doubling of
    the miss rate is a probit shift of 0.29, the same as one standard deviation of the factor, so
    a 12-month window cannot tell it from bad times about half the time (README).
    """
    model = _model(rho=0.01)
    heavy = doubled_rolls(model)

    def verdict(result, side: str) -> None:  # type: ignore[no-untyped-def]
        window = {c.label or c.metric: c for c in result.checks if c.month == WINDOW}
        red = [k for k, c in window.items() if c.light == "red" and c.side == side]
        assert "dpd90_ratio" in red and len(red) >= 3, window
        assert not any(c.light != "green" and c.side != side for c in window.values())
        assert all(
            j.verdict.startswith(f"realised {'above' if side == 'high' else 'below'}")
            for j in result.jeffreys[:2]
        )

    verdict(_run(_panel(heavy, tmp_path, seed=21), model), "high")
    verdict(_run(_panel(model, tmp_path, seed=22), heavy), "low")


def test_backtest_cli_table_json_and_report(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = _model()
    panel = _panel(model, tmp_path, seed=3)
    model_path = tmp_path / "model.toml"
    model_path.write_text(_model_text(model), encoding="utf-8")
    report = tmp_path / "backtest.html"
    args = [
        "backtest",
        panel.source,
        "--model",
        model_path,
        "--as-of",
        "2019-07",
        "--macro",
        HISTORY,
        "--paths",
        "50",
        "--reference",
        "2018-01",
        "--phi",
        "0.5",
    ]
    table = cli(*args, "--report", report)
    assert table.exit_code == 0, table.output
    assert "backtest from 2019-07" in table.output and "Jeffreys" in table.output
    data = json.loads(cli(*args, "--json").output)
    assert data["as_of"] == "2019-07" and data["months"] == MONTHS - AS_OF
    assert sum(data["lights"].values()) == len(data["checks"])
    assert {c["metric"] for c in data["checks"]} == {"roll", "charge_off_rate", "dpd90_ratio"}
    page = report.read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 9  # 7 rolls, charge-offs, 90+ ratio


def test_backtest_refuses_bad_input(cli, bad_input, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = _model()
    panel = _panel(model, tmp_path, seed=4)
    model_path = tmp_path / "model.toml"
    model_path.write_text(_model_text(model), encoding="utf-8")
    common = ["--model", model_path, "--macro", HISTORY, "--paths", "10"]
    result = cli("backtest", panel.source, "--as-of", "2030-01", *common)
    bad_input(result, "must be a month of the panel before its last")
    result = cli("backtest", panel.source, "--as-of", "2019-7x", *common)
    assert result.exit_code == 2 and "expected a month YYYY-MM" in result.output
    no_terms = tmp_path / "no-terms.parquet"
    table = pq.read_table(panel.source).drop_columns(["remaining_term"])
    pq.write_table(table, no_terms)
    result = cli("backtest", no_terms, "--as-of", "2019-07", *common)
    bad_input(result, "the as-of book needs the column(s) remaining_term")
    assert parse_month("2019-07") is not None


def _model_text(model: Model) -> str:
    """The default model file with every segment's beta on unemployment only."""
    text = load_model("default").text
    lines = []
    for line in text.splitlines():
        if line.startswith("beta = {"):
            line = f"beta = {{ unemployment_rate = {BETA} }}"
        lines.append(line)
    assert model.segments[0].beta == {"unemployment_rate": BETA}
    return "\n".join(lines) + "\n"
