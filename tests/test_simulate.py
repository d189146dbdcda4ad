"""simulate(), `stress-sim run` and `stress-sim compare`: the Dataset contract (SPEC 6),
reproducibility (SPEC 5), the exact accounting identity, scenario ordering, and memory that does
not grow with loans x paths (SPEC 8)."""

from __future__ import annotations

import json
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner, Result

from simulator import synthetic_portfolio, variables
from simulator.cli import main
from simulator.cli.comparison import PAIRED
from simulator.metrics import compare, diagnostics, summarize, tail_estimates
from simulator.run import simulate
from simulator.states import ACTIVE_STATES

MONEY = [name for name, v in variables.registered().items() if v.units == "CNY"]


@pytest.fixture(params=["numba", "numpy"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def book():
    return synthetic_portfolio(1_500, seed=7)


def small_run(book, engine: str = "numba", **kwargs) -> xr.Dataset:
    options = {"paths": 6, "seed": 3, "engine": engine} | kwargs
    return simulate(book, ["baseline", "severe"], ["standard", "harsh-collections"], **options)


def fen(values: xr.DataArray) -> np.ndarray:
    """CNY back to exact integer fen (every CNY value is a whole number of fen)."""
    out = np.rint(values.values * 100).astype(np.int64)
    assert np.array_equal(out / 100, values.values)
    return out


def test_dataset_has_the_registered_variables_dims_and_provenance(book) -> None:
    ds = small_run(book)
    registered = variables.registered()
    assert set(ds.data_vars) == set(registered)
    for name, var in registered.items():
        assert ds[name].dims == var.dims, name
        assert ds[name].attrs["units"] == var.units
        assert ds[name].attrs["long_name"]
    assert list(ds.scenario.values) == ["baseline", "severe"]
    assert list(ds.policy.values) == ["standard", "harsh-collections"]
    assert ds.sizes == {
        "scenario": 2,
        "policy": 2,
        "path": 6,
        "month": 24,
        "segment": 3,
        "state": 10,
        "tier": 5,
        "stage": 3,
        "from_stage": 3,
        "to_stage": 3,
        "category": 5,
        "months_since_restructuring": 3,
        "kind": 2,
        "months_on_book": 23,
    }
    assert (
        str(ds.date.values[0])[:10] == "2027-01-01" and str(ds.date.values[12])[:10] == "2028-01-01"
    )
    assert ds.attrs["seed"] == "3" and ds.attrs["paths"] == 6 and ds.attrs["horizon"] == 24
    assert ds.attrs["portfolio_sha256"] == book.sha256
    assert "penalty_multiplier" in ds.attrs["model_file"]
    assert "[factor]" in ds.attrs["scenario_file_severe"]
    assert ds.attrs["units"] == "CNY"


def test_provision_and_capital_identities_hold_on_every_path(book, engine: str) -> None:
    """SPEC 10, to the fen on every path: stage balances and category balances sum to the
    principal on book; the allowance rolls forward (opening + credit loss expense - net
    charge-offs = closing); capital rolls forward from its opening by the month's after-tax
    profit; lifetime loss = horizon loss + closing allowance; loans by stage sum to loans on
    book, and the stage transfers into a stage to its loans less new ones."""
    ds = small_run(book, engine, treasury="default")
    on_book = fen(ds.balance.sel(state=list(ACTIVE_STATES))).sum(-1)
    assert np.array_equal(fen(ds.stage_balance).sum(-1), on_book)
    assert np.array_equal(fen(ds.category_balance).sum(-1), on_book)
    allowance = fen(ds.allowance).sum(-1)
    opening = fen(ds.opening_allowance)[..., None, None]
    nco = fen(ds.net_credit_loss)
    expense = fen(ds.credit_loss_expense)
    assert np.array_equal(opening + np.cumsum(expense - nco, axis=-1), allowance)
    assert np.array_equal(fen(ds.lifetime_net_loss), nco.sum(-1) + allowance[..., -1])
    accounts = ds.accounts.sel(state=list(ACTIVE_STATES)).values.sum(-1)
    assert np.array_equal(ds.stage_accounts.values.sum(-1), accounts)
    transfers, stages = ds.stage_transfers.values, ds.stage_accounts.values
    assert (transfers >= 0).all()
    assert (transfers.sum(-2) <= stages).all()  # into each stage: all but new loans
    assert (transfers.sum(-1)[..., 1:, :] <= stages[..., :-1, :]).all()  # some loans close
    run_off = small_run(book, engine, treasury="run-off")  # no new loans: every loan counted
    assert np.array_equal(run_off.stage_transfers.values.sum(-2), run_off.stage_accounts.values)
    profit = (
        fen(ds.collected_interest) + fen(ds.late_interest)
        + fen(ds.settlement_cash) - fen(ds.settled_principal) + fen(ds.settlement_loss)
        - sum(fen(ds[c]) for c in ("funding_interest", "collection_cost", "legal_cost",
                                   "mediation_fee", "operating_cost"))
        - expense
    )  # fmt: skip
    capital = fen(ds.opening_capital)[..., None, None] + np.cumsum(profit, axis=-1)  # no tax
    assert np.array_equal(fen(ds.capital), capital)
    ratio = ds.capital_ratio.values
    breach = ds.capital_breach_month.values
    horizon = ds.sizes["month"]
    first = np.where((ratio < 0.105).any(-1), (ratio < 0.105).argmax(-1) + 1, horizon + 1)
    assert np.array_equal(breach, first)


def test_accounting_identity_holds_on_every_path(book, engine: str) -> None:
    ds = small_run(book, engine, horizon=30)
    opening = int(book.principal.sum())
    assert np.all(fen(ds["opening_principal"]) == opening)
    inflow = fen(ds.originated_principal).sum(-1) + fen(ds.capitalised_interest).sum(-1)
    outflow = sum(
        fen(ds[v]).sum(-1)
        for v in (
            "collected_principal",
            "prepaid_principal",
            "settled_principal",
            "chargeoff_principal",
        )
    )
    closing = fen(ds.balance.isel(month=-1)).sum(-1)
    assert np.array_equal(opening + inflow, outflow + closing)
    # and the loss is what the flows say it is
    net = fen(ds.chargeoff_principal) + fen(ds.settlement_loss) - fen(ds.recoveries)
    assert np.array_equal(net, fen(ds.net_credit_loss))
    assert np.array_equal(net.sum(-1), fen(ds.cumulative_net_loss))
    assert np.array_equal(fen(ds.segment_balance).sum(-2), fen(ds.balance))


def test_engines_give_identical_datasets(book) -> None:
    a = small_run(book, "numba").drop_attrs()
    b = small_run(book, "numpy").drop_attrs()
    xr.testing.assert_identical(a, b)


def test_results_do_not_depend_on_threads_chunks_or_blocks(book) -> None:
    reference = small_run(book, threads=1, chunks=1, block_paths=64).drop_attrs()
    for options in (
        {"threads": 2, "chunks": 5, "block_paths": 4},
        {"chunks": 13, "block_paths": 1},
    ):
        xr.testing.assert_identical(reference, small_run(book, **options).drop_attrs())


def test_a_path_is_the_same_whatever_else_is_in_the_run(book) -> None:
    """Paths are keyed by (seed, scenario, path): adding paths, scenarios or policies does not
    change the ones already there (and policies share the macro paths)."""
    small = simulate(book, ["severe"], ["standard"], paths=3, seed=9)
    large = simulate(
        book, ["baseline", "severe"], ["harsh-collections", "standard"], paths=6, seed=9
    )
    xr.testing.assert_identical(
        small.drop_attrs(),
        large.sel(scenario=["severe"], policy=["standard"]).isel(path=slice(3)).drop_attrs(),
    )
    z = large.macro_index.sel(scenario="severe")
    xr.testing.assert_identical(
        z.sel(policy="standard", drop=True), z.sel(policy="harsh-collections", drop=True)
    )
    other_seed = simulate(book, ["severe"], ["standard"], paths=3, seed=10)
    assert not np.array_equal(other_seed.loss_rate.values, small.loss_rate.values)


def test_adverse_and_severe_lose_more_than_baseline() -> None:
    ds = simulate(
        synthetic_portfolio(3_000, seed=1), ["baseline", "adverse", "severe"], paths=200, seed=1
    )
    loss = ds.loss_rate.isel(policy=0)
    mean = loss.mean("path")
    se = loss.std("path", ddof=1) / math.sqrt(loss.sizes["path"])

    def clearly_above(worse: str, better: str) -> bool:
        gap = float(mean.sel(scenario=worse) - mean.sel(scenario=better))
        return gap > 3 * math.hypot(float(se.sel(scenario=worse)), float(se.sel(scenario=better)))

    assert clearly_above("adverse", "baseline")
    assert clearly_above("severe", "adverse")


def peak_bytes(loans: int, paths: int) -> int:
    book = synthetic_portfolio(loans, seed=1)
    simulate(book, ["adverse"], paths=2, horizon=24, seed=1)  # compile and warm up
    tracemalloc.start()
    simulate(book, ["adverse"], paths=paths, horizon=24, seed=1, block_paths=16)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_memory_grows_with_loans_plus_paths_not_their_product() -> None:
    """Doubling the loans adds a per-loan amount that does not depend on the number of paths:
    nothing is allocated per loan and path."""
    loans_added = 20_000
    extra_for_loans_few_paths = peak_bytes(40_000, 16) - peak_bytes(20_000, 16)
    extra_for_loans_many_paths = peak_bytes(40_000, 64) - peak_bytes(20_000, 64)
    # bytes per opening loan: the loan tape arrays and their kernel copies, with slack, for the
    # loan and its candidate new loans - about 5.2 over 24 months now that the default treasury
    # replaces run-off (20-36% of the book a month), 1.9 with the earlier plan of 8% a month,
    # when 400 bytes were enough
    per_loan = 900
    assert extra_for_loans_few_paths < loans_added * per_loan
    assert extra_for_loans_many_paths < loans_added * per_loan
    # a loans x paths array of one int8 per loan-path would add 20,000 x 48 bytes here
    assert extra_for_loans_many_paths - extra_for_loans_few_paths < loans_added * 48 / 4


def test_tail_estimators_on_a_known_sample() -> None:
    losses = np.arange(1, 101) / 1000.0  # 0.001 .. 0.100, in random order
    shuffled = np.random.default_rng(0).permutation(losses)
    var, _, _, es, _, _ = tail_estimates(shuffled, 0.95)
    assert var == pytest.approx(0.095)  # the 95th of 100
    assert es == pytest.approx(np.mean(losses[94:]))
    var, _, _, es, _, _ = tail_estimates(shuffled, 0.99)
    assert var == pytest.approx(0.099)
    assert es == pytest.approx((0.099 + 0.100) / 2)


# --- the CLI -------------------------------------------------------------------------------


def test_run_prints_the_summary_and_writes_netcdf(tmp_path: Path) -> None:
    out = tmp_path / "results.nc"
    result = CliRunner().invoke(
        main,
        [
            "run",
            "--synthetic",
            "500",
            "--paths",
            "8",
            "--scenario",
            "adverse",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "adverse" in result.output and "VaR 99%" in result.output
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds.sizes["path"] == 8 and list(ds.scenario.values) == ["adverse"]
        assert ds.loss_rate.attrs["long_name"] == "loss rate"
    assert [p.name for p in tmp_path.iterdir()] == ["results.nc"]  # no temporary left


def test_run_json_with_both_engines_agrees(tmp_path: Path) -> None:
    outputs = []
    for engine in ("numba", "numpy"):
        result = CliRunner().invoke(
            main,
            [
                "run",
                "--synthetic",
                "300",
                "--paths",
                "4",
                "--json",
                "--horizon",
                "12",
                "--engine",
                engine,
            ],
        )
        assert result.exit_code == 0, result.output
        outputs.append(json.loads(result.output)["runs"])
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) == 3  # baseline, adverse, severe x standard


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "nope"], "unknown scenario 'nope'"),
        (["--policy", "nope"], "unknown policy 'nope'"),
        (["--horizon", "-3"], "--horizon"),
        (["--paths", "0"], "--paths"),
        (["--engine", "cuda"], "--engine"),
        (["--out", "results.csv"], "expected an output path ending in .nc"),
        (["--portfolio", "missing.csv"], "no such file"),
        (["--synthetic", "10", "--portfolio", "x.csv"], "either --portfolio or --synthetic"),
    ],
)
def test_run_bad_input_exits_2_with_one_message(
    args: list[str], message: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(main, ["run", "--paths", "2", "--quiet", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_run_json_reports_liquidity_as_summarize_does() -> None:
    options = {"paths": 24, "horizon": 12, "seed": 5}
    result = CliRunner().invoke(
        main,
        ["run", "--synthetic", "400", "--scenario", "severe", "--json"]
        + [f"--{k}={v}" for k, v in options.items()],
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)["runs"]
    ds = simulate(400, ["severe"], ["standard"], **options)
    summary = summarize(ds, levels=(0.99,)).isel(scenario=0, policy=0)
    assert row["min_buffer_q01_cny"] == float(summary.min_buffer_fan.sel(quantile=0.01))
    survival = ds.survival_months.isel(scenario=0, policy=0).values
    assert row["shortfall_probability"] == (survival <= 12).mean()
    median = float(np.median(survival))
    assert row["median_survival_months"] == (None if median > 12 else median)


def compare_cli(*args: str) -> Result:
    base = ["compare", "--synthetic", "600", "--paths", "40", "--horizon", "12", "--seed", "2"]
    return CliRunner().invoke(main, [*base, *args])


def test_compare_json_is_the_paired_comparison_of_the_same_run() -> None:
    result = compare_cli("--scenario", "adverse", "--scenario", "severe", "--policy", "grace",
                         "--policy", "standard", "--policy", "settlement", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["baseline"] == "standard"
    rows = document["comparisons"]
    assert sorted((r["scenario"], r["policy"]) for r in rows) == [
        (s, p) for s in ("adverse", "severe") for p in ("grace", "settlement")
    ]
    assert document["ranked_on"] == "lifetime_loss"
    ds = simulate(600, ["adverse", "severe"], ["grace", "standard", "settlement"], paths=40,
                  horizon=12, seed=2)  # fmt: skip
    table = compare(ds, baseline="standard", level=0.99)
    for r in rows:
        at = table.sel(scenario=r["scenario"], policy=r["policy"])
        for key, name in PAIRED.items():  # every paired measure, every field
            fields = {"diff": "_diff", "low": "_diff_low", "high": "_diff_high",
                      "better_share": "_better_share"}  # fmt: skip
            for field, suffix in fields.items():
                assert r[key][field] == float(at[f"{name}{suffix}"]), (key, field)
            assert r[key]["low"] <= r[key]["diff"] <= r[key]["high"], key
        assert r["es_99"]["low"] <= r["es_99"]["high"]
        assert r["variance_reduction"] > 1  # common random numbers pay off
    for s in ("adverse", "severe"):  # ranked on the lifetime loss, best first
        ranked = [r for r in rows if r["scenario"] == s]
        assert [r["rank"] for r in ranked] == [1, 2]
        assert ranked[0]["lifetime_loss"]["diff"] <= ranked[1]["lifetime_loss"]["diff"]
    diag = diagnostics(ds)
    assert len(document["diagnostics"]) == 6
    for d in document["diagnostics"]:
        at = diag.sel(scenario=d["scenario"], policy=d["policy"])
        assert set(d) == {"scenario", "policy", *map(str, diag.data_vars)}
        for name in diag.data_vars:
            value = float(at[name])
            assert d[name] == (value if np.isfinite(value) else None), name
    by = {(d["scenario"], d["policy"]): d for d in document["diagnostics"]}
    assert by["severe", "settlement"]["settlement_take_up"] > 0
    assert by["severe", "standard"]["settlement_take_up"] is None
    assert by["severe", "grace"]["grace_covered_share"] > 0


def test_compare_prints_a_table_against_the_chosen_baseline() -> None:
    result = compare_cli("--scenario", "adverse", "--policy", "standard", "--policy", "grace",
                         "--baseline", "grace", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "adverse: each policy minus grace" in result.output
    assert "Δ lifetime loss" in result.output and "Δ net income (CNY)" in result.output
    assert "Why: each policy's mechanisms at work" in result.output
    assert "standard" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "standard"], "at least two policies"),
        (["--policy", "standard", "--policy", "grace", "--baseline", "nope"], "--baseline nope"),
        (["--policy", "standard", "--policy", "nope"], "unknown policy 'nope'"),
    ],
)
def test_compare_bad_input_exits_2(args: list[str], message: str) -> None:
    result = compare_cli("--quiet", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
