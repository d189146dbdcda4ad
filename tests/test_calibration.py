"""Calibration (SPEC 12): the estimators against an independent implementation on public
reference panels, parameter recovery with measured interval coverage, and calibrate -> run end
to end.

Reference implementation: open-risk's ``transitionMatrix`` 0.5.1 (PyPI, Apache 2.0; a test-only
dependency), whose ``CohortEstimator`` and ``SimpleEstimator`` compute the cohort (maximum
likelihood) estimator of a discrete-time chain, ``N_ij / N_i``, with their own loops. We feed
them two public data sets that ship with the package: ``synthetic_data4.csv`` (1,000 entities,
10 yearly observations, 8 rating states, its "semi-realistic" cohort example) and LendingClub's
2007-2011 loans (``LoanStats3a_Step2.csv``: 42,535 loans, grade at origination to grade or
outcome, 10 states). Our ``cohort_counts`` / ``cohort_matrix`` (the same code path the panel
calibration counts with) must agree to 1e-9. One known quirk of the reference is left out:
``CohortEstimator`` counts the file's last migration twice (its boundary case for the last row),
so its last period is not compared.

Panels of known parameters come from ``benchmarks.panels`` (an independent NumPy simulator of the
model, not the engine).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from benchmarks.panels import PanelSpec, simulate_panel
from simulator.calibration import fit, load_macro, write_model
from simulator.calibration.counts import cohort_counts, cohort_matrix, transitions
from simulator.calibration.rows import fit_rows, shifted_cells
from simulator.inputs.model import Model, load_model
from simulator.inputs.panel import load_panel

DATA = Path(__file__).with_name("data")
HISTORY = DATA / "china_unemployment.csv"
"""NBS urban surveyed unemployment rate (%), monthly 2018-01 to 2025-11, from the shared public
data (china_macro.csv, series urban_surveyed_unemployment_rate_series, chinadata.live)."""
BETA = 0.5  # the true unemployment beta of the recovery tests


def _reference_data(name: str) -> pd.DataFrame:
    import transitionMatrix as tm

    return pd.read_csv(Path(tm.source_path) / "datasets" / name)


def test_cohort_estimator_matches_transitionmatrix_on_its_reference_panel() -> None:
    from transitionMatrix.estimators.cohort_estimator import CohortEstimator
    from transitionMatrix.statespaces.statespace import StateSpace
    from transitionMatrix.utils.preprocessing import unique_timestamps

    data = _reference_data("synthetic_data4.csv").sort_values(["ID", "Time"])
    states = StateSpace([(str(i), str(i)) for i in range(8)])
    reference = CohortEstimator(
        states=states,
        cohort_bounds=unique_timestamps(data),
        ci={"method": "goodman", "alpha": 0.05},
    )
    reference.fit(data)
    ours = cohort_counts(
        data["ID"].to_numpy(), data["Time"].to_numpy(), data["State"].to_numpy(), 8
    )
    periods = ours.shape[0] - 1  # the reference double-counts the last migration of the file
    assert periods >= 8
    for k in range(periods):
        np.testing.assert_array_equal(ours[k], reference.count_set[k])
        theirs = np.asarray(reference.matrix_set[k])
        mine = np.nan_to_num(cohort_matrix(ours[k][None]))
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-9)
    pooled = cohort_matrix(ours[:periods])
    their_pooled = (
        np.sum(reference.count_set[:periods], axis=0)
        / np.sum(reference.count_set[:periods], axis=(0, 2))[:, None]
    )
    np.testing.assert_allclose(pooled, their_pooled, rtol=0, atol=1e-9)


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")
def test_cohort_estimator_matches_transitionmatrix_on_lendingclub() -> None:
    """(The reference's Goodman intervals divide by zero on the states no loan starts in.)"""
    from transitionMatrix.estimators.simple_estimator import SimpleEstimator
    from transitionMatrix.statespaces.statespace import StateSpace

    raw = _reference_data("LoanStats3a_Step2.csv")
    labels = sorted(set(raw["State_IN"]) | set(raw["State_OUT"]))
    code = {s: i for i, s in enumerate(labels)}
    canonical = pd.DataFrame(
        {
            "ID": raw["ID"],
            "Time": 0,
            "From": raw["State_IN"].map(code),
            "To": raw["State_OUT"].map(code),
        }
    )
    reference = SimpleEstimator(
        states=StateSpace([(s, s) for s in labels]), ci={"method": "goodman", "alpha": 0.05}
    )
    theirs = np.asarray(reference.fit(canonical)[0])
    n = len(raw)
    entity = np.repeat(np.arange(n), 2)
    time = np.tile([0, 1], n)
    state = np.column_stack([canonical["From"], canonical["To"]]).ravel()
    mine = np.nan_to_num(cohort_matrix(cohort_counts(entity, time, state, len(labels))))
    np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-9)
    assert mine[code["A"], code["J"]] > 0.5  # most grade A loans repaid: the data are real


# --- panels of known parameters ------------------------------------------------------------


def _one_segment(beta: dict[str, float]) -> Model:
    base = load_model("default")
    return replace(base, segments=(replace(base.segments[0], beta=beta),))


def _macro(model: Model, months: int) -> tuple[np.ndarray, int]:
    history = load_macro(HISTORY, model)
    x = history.values["unemployment_rate"][: months + 1]
    return (-BETA * (x[1:] - x[0]) / model.macro_scale["unemployment_rate"])[
        :, None
    ], history.first_month


def _panel(model: Model, tmp_path: Path, **spec: object) -> object:
    table = simulate_panel(model, PanelSpec(**spec)).table  # type: ignore[arg-type]
    path = tmp_path / "panel.parquet"
    pq.write_table(table, path)
    return load_panel(path, model)


def test_one_period_fit_is_the_cohort_estimate(tmp_path: Path) -> None:
    """With one period and one tier the probit model is saturated: its fitted rows are the
    observed frequencies, the cohort estimator's."""
    model = _one_segment({})
    panel = _panel(model, tmp_path, loans=20000, months=1, seed=3, delinquent_share=0.5)
    counts = transitions(panel).counts[:, 0]
    one_tier = counts.sum(axis=1, keepdims=True)
    fitted = fit_rows(one_tier, ref=0, min_moves=1, pseudo=0.0)
    for s in range(3):  # the rows with every destination seen
        observed = cohort_matrix(one_tier[:, :, 0, s][:, :, None, :])[0]
        cells = shifted_cells(fitted.a[0, s], np.array(-fitted.z[0]))
        np.testing.assert_allclose(cells, observed, atol=1e-6)


def _covered(lower: float, value: float, upper: float) -> bool:
    return bool(lower <= value <= upper)


def _true_model() -> Model:
    """One segment, unemployment beta 0.5, the current row missing 1.5% a month (below)."""
    model = _one_segment({"unemployment_rate": BETA})
    normal = model.segments[0].normal.copy()
    normal[0, :2] = (0.985, 0.015)
    return replace(model, segments=(replace(model.segments[0], normal=normal),))


def _count_hits(cal: Any, model: Model, hits: dict[str, list[bool]]) -> None:
    """Whether each 95% interval of a calibration ``cal`` holds ``model``'s true value."""
    seg, got = model.segments[0], cal.segments[0]
    for rows, true in ((got.normal, seg.normal), (got.restructured, seg.restructured)):
        for s, row in enumerate(rows):
            if row.source == "fitted":
                reach = np.flatnonzero(true[s] > 0)
                hits["rows"] += [_covered(row.lower[d], true[s, d], row.upper[d]) for d in reach]
    for tier, truth in zip(cal.tiers, model.tiers, strict=True):
        if tier.source == "fitted":
            hits["delta"].append(_covered(tier.delta.lower, truth.delta, tier.delta.upper))
    assert got.rho is not None and got.systematic is not None and got.prepayment is not None
    hits["rho"].append(_covered(got.rho.lower, seg.rho, got.rho.upper))
    b = got.systematic.beta["unemployment_rate"]
    hits["beta"].append(_covered(b.lower, BETA, b.upper))
    hits["prepayment"].append(_covered(got.prepayment.lower, seg.prepayment, got.prepayment.upper))
    rec, truth_rec = cal.recovery, model.recovery
    assert rec is not None
    hits["recovery"] += [
        _covered(rec.hazard.lower, truth_rec.monthly_hazard, rec.hazard.upper),
        _covered(rec.alpha.lower, truth_rec.fraction_alpha, rec.alpha.upper),
        _covered(rec.beta.lower, truth_rec.fraction_beta, rec.beta.upper),
    ]


@pytest.mark.slow
def test_intervals_cover_the_true_parameters(tmp_path: Path) -> None:
    """Repeated panels from a model with known rows, tier offsets, rho, beta, prepayment and
    recovery: each 95% interval contains the true value at about its nominal rate (>= 90%).

    40 panels of 2,000 loans over 48 months (phi 0.5, unemployment as the macro path, beta 0.5):
    rows 96%, tier offsets 91%, rho 95%, beta 93%, prepayment 93%, recoveries 99% (printed; each
    must be >= 0.90). On 100 panels of 3,000 loans (README): 94%, 94%, 93%, 89%, 95%, 95%.

    The true model's current row misses 1.5% a month, the default model's level before it was
    fitted to Qifu's Day-1 delinquency (0.4%): at 0.4% a panel of 2,000 loans has months without
    a miss, where the Vasicek moment estimator below is undefined (NaN).
    """
    model = _true_model()
    history = load_macro(HISTORY, model)
    macro, start = _macro(model, 48)
    hits: dict[str, list[bool]] = {
        k: [] for k in ("rows", "delta", "rho", "beta", "prepayment", "recovery")
    }
    estimates = []
    for r in range(40):
        panel = _panel(
            model, tmp_path, loans=2000, months=48, seed=1000 + r, phi=0.5, macro=macro, start=start
        )
        cal = fit(panel, model, history, reference=panel.first_month)
        _count_hits(cal, model, hits)
        got = cal.segments[0]
        estimates.append((got.rho.value, got.vasicek_rho))
    coverage = {k: float(np.mean(v)) for k, v in hits.items()}
    print("coverage", coverage, {k: len(v) for k, v in hits.items()})
    assert len(hits["rows"]) > 40 * 20 and len(hits["delta"]) == 40 * 4
    for family, share in coverage.items():
        assert share >= 0.90, (family, coverage)
    # The Vasicek moment estimator on the miss-rate series is the check on rho: over the panels
    # the two agree within three standard errors of their mean difference.
    rho, vasicek = np.array(estimates, dtype=float).T
    difference = rho - vasicek
    assert abs(difference.mean()) < 3 * difference.std(ddof=1) / np.sqrt(len(difference)) + 0.01


ENGINE_PANELS = 100


@pytest.mark.slow
def test_engine_panels_recover_the_true_parameters(tmp_path: Path) -> None:
    """The same check on panels the engine writes (``run --panel-out``): the true model above
    runs 48 months on a 2,000-loan synthetic book without restructured loans (their relief
    memory is not in the calibrated rows), on the unemployment history replayed (phi 0.5),
    with the default treasury's replacement lending keeping the book's size; each of the run's
    100 paths is one panel, and each family's 95% intervals must hold the truth at least 90% of
    the time. Measured (seed 7): rows 96.8% of 3,400, tier offsets 97% of 400, rho 90%, beta
    92%, prepayment 93%, recoveries 96% of 300 (on 100 other paths, README: 91-97%)."""
    import pyarrow.compute as pc

    from simulator import simulate
    from simulator.inputs.synthetic import synthetic_portfolio

    model = _true_model()
    scenario = tmp_path / "history.toml"
    scenario.write_text(
        'description = "unemployment replayed"\nhorizon = 48\n[factor]\nphi = 0.5\n'
        f'sigma = 1.0\n[history]\nfile = "{HISTORY.resolve().as_posix()}"\n',
        encoding="utf-8",
    )
    book = synthetic_portfolio(2000, seed=1, model=model)
    book = replace(book, restructured=np.zeros_like(book.restructured))
    out = tmp_path / "panel.parquet"
    simulate(book, [scenario], ["standard"], model=model, paths=ENGINE_PANELS, horizon=48,
             seed=7, panel_out=out, panel_paths=ENGINE_PANELS)  # fmt: skip
    table, history = pq.read_table(out), load_macro(HISTORY, model)
    hits: dict[str, list[bool]] = {
        k: [] for k in ("rows", "delta", "rho", "beta", "prepayment", "recovery")
    }
    for k in range(ENGINE_PANELS):
        one = tmp_path / "one.parquet"
        pq.write_table(table.filter(pc.equal(table["path"], k)).drop(["path"]), one)
        panel = load_panel(one, model)
        _count_hits(fit(panel, model, history, reference=panel.first_month), model, hits)
    coverage = {k: float(np.mean(v)) for k, v in hits.items()}
    print("coverage", coverage, {k: len(v) for k, v in hits.items()})
    assert len(hits["rows"]) > ENGINE_PANELS * 20
    for family, share in coverage.items():
        assert share >= 0.90, (family, coverage)


# --- end to end ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def panel_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every segment, 2018-01 to 2021-01, unemployment beta 0.5 in each segment."""
    base = load_model("default")
    model = replace(
        base, segments=tuple(replace(s, beta={"unemployment_rate": BETA}) for s in base.segments)
    )
    macro, start = _macro(model, 36)
    table = simulate_panel(
        model,
        PanelSpec(
            loans=3000, months=36, seed=5, phi=0.5, macro=np.repeat(macro, 3, axis=1), start=start
        ),
    ).table
    path = tmp_path_factory.mktemp("panel") / "panel.csv"
    pacsv.write_csv(table, path)
    return path


def test_calibrate_then_check_and_run(cli, panel_csv: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, report = tmp_path / "fitted.toml", tmp_path / "calibration.html"
    result = cli("calibrate", panel_csv, "--macro", HISTORY, "--out", out, "--report", report)
    assert result.exit_code == 0, result.output
    assert "model written to" in result.output and "salaried" in result.output
    check = cli("scenarios", "check", out)
    assert check.exit_code == 0, check.output
    text = out.read_text(encoding="utf-8")
    assert "95% CI" in text and "moves" in text and "2018-01 to 2021-01" in text
    assert "[base model]" in text  # what the panel cannot tell says where it comes from
    fitted = load_model(out)
    assert set(fitted.segments[0].beta) == {"unemployment_rate"}
    run = cli(
        "run",
        "--model",
        out,
        "--synthetic",
        "500",
        "--scenario",
        "baseline",
        "--paths",
        "8",
        "--treasury",
        "run-off",
        "--quiet",
        "--json",
    )
    assert run.exit_code == 0, run.output
    page = report.read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") >= 6  # rows and index per segment
    assert "http" not in page.replace("http-equiv", "")


def test_calibrate_json_matches_the_model_file(cli, panel_csv: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "fitted.toml"
    result = cli("calibrate", panel_csv, "--macro", HISTORY, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    fitted = load_model(out)
    for seg in fitted.segments:
        got = data["segments"][seg.name]
        assert got["rho"]["estimate"] == pytest.approx(seg.rho, abs=1e-6)
        assert got["rho"]["lower"] < seg.rho < got["rho"]["upper"]
        row = got["normal"]["dpd_1_30"]["probabilities"]
        np.testing.assert_allclose(list(row.values()), seg.normal[1], atol=1e-9)
        assert got["beta"]["unemployment_rate"]["estimate"] == pytest.approx(
            seg.beta["unemployment_rate"], abs=1e-6
        )
    assert data["window"] == {"first": "2018-01", "last": "2021-01"}
    assert data["tiers"]["C"]["source"].startswith("reference tier")


def test_sparse_rows_are_pooled_and_absent_segments_keep_the_base(tmp_path: Path) -> None:
    base = load_model("default")
    panel = _panel(
        base,
        tmp_path,
        loans=1500,
        months=12,
        seed=2,
        segment_shares=(0.97, 0.03, 0.0),
        restructured_share=0.0,
    )
    cal = fit(panel, base)
    few = cal.segments[1]
    assert few.moves > 0
    pooled = [r for r in few.normal if r.source.startswith("pooled over segments")]
    assert pooled, [r.source for r in few.normal]
    absent = cal.segments[2]
    assert absent.moves == 0 and absent.source.startswith("base model")
    np.testing.assert_array_equal(absent.normal[1].probabilities, base.segments[2].normal[1])
    assert all(r.source.startswith("base model") for r in cal.segments[0].restructured)
    out = write_model(cal, tmp_path / "fitted.toml")
    text = out.read_text(encoding="utf-8")
    assert "pooled over segments" in text and "base model (only 0 moves observed)" in text


def test_bad_macro_histories_are_reported(cli, bad_input, panel_csv: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("date,sunspots\n2018-01,1\n2018-02,2\n", encoding="utf-8")
    result = cli("calibrate", panel_csv, "--macro", unknown, "--out", tmp_path / "m.toml")
    bad_input(result, "unknown.csv", "sunspots", "not macro variables of model 'default'")
    short = tmp_path / "short.csv"
    short.write_text("date,unemployment_rate\n2019-01,5.0\n2019-02,5.1\n", encoding="utf-8")
    result = cli("calibrate", panel_csv, "--macro", short, "--out", tmp_path / "m.toml")
    bad_input(result, "short.csv", "the history runs from 2019-01 to 2019-02")
    result = cli("calibrate", panel_csv, "--out", tmp_path / "m.txt")
    bad_input(result, "m.txt", "expected an output path ending in .toml")
    assert not (tmp_path / "m.toml").exists()


def test_a_panel_of_simulated_paths_is_one_history_per_path(tmp_path: Path) -> None:
    """A ``path`` column (what ``run --panel-out`` writes): the same loan ids on each path are
    different loans, each path's months a history of its own; the index regression is then OLS
    with Newey-West errors within paths, and the model file says how many paths."""
    import pyarrow as pa

    model = _one_segment({})
    tables = []
    for path in range(3):
        table = simulate_panel(model, PanelSpec(loans=1500, months=24, seed=40 + path)).table
        tables.append(table.append_column("path", pa.array(np.full(table.num_rows, path))))
    file = tmp_path / "paths.parquet"
    pq.write_table(pa.concat_tables(tables, promote_options="permissive"), file)
    panel = load_panel(file, model)
    assert panel.paths == 3
    cal = fit(panel, model, reference=panel.first_month)
    got = cal.segments[0]
    assert got.systematic is not None and got.systematic.periods == 3 * 24
    assert got.systematic.method.startswith("OLS with Newey-West errors within paths")
    assert got.periods[0] == "p0/2020-02" and got.periods[-1] == "p2/2022-01"
    assert cal.loans == sum(len(np.unique(t["loan_id"].to_numpy())) for t in tables)
    text = write_model(cal, tmp_path / "fitted.toml").read_text(encoding="utf-8")
    assert "3 simulated paths" in text
