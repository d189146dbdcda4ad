"""``--panel-out``: the run's first paths as a loan-month panel (SPEC 12, ``run.panel_out``).

The panel is the run's paths: per path and month its rows add up to the run's own balances,
payments and recoveries, to the fen; both engines write the same file; it loads as a panel, and
``calibrate`` then ``run`` works on it end to end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from simulator import simulate
from simulator.inputs.model import load_model
from simulator.inputs.panel import load_panel
from simulator.states import ACTIVE_STATES

PAYMENTS = ("collected_interest", "collected_principal", "prepaid_principal", "settlement_cash")
RECOVERED = ("recoveries", "recovery_fees")  # gross of the agency's fee, as the panel has it


def fen(values) -> np.ndarray:
    return np.rint(np.asarray(values, dtype=np.float64) * 100).astype(np.int64)


@pytest.fixture(scope="module")
def panels(tmp_path_factory) -> dict[str, tuple[object, Path]]:
    """A run with new lending (default treasury) and settlements, its panel, on each engine."""
    out = {}
    for engine in ("numba", "numpy"):
        path = tmp_path_factory.mktemp(engine) / "panel.parquet"
        ds = simulate(1500, ["adverse"], ["settlement"], paths=3, horizon=10, seed=4,
                      engine=engine, panel_out=path, panel_paths=2)  # fmt: skip
        out[engine] = (ds, path)
    return out


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_the_panel_adds_up_to_the_runs_paths(panels, engine: str) -> None:
    ds, path = panels[engine]
    run = ds.isel(scenario=0, policy=0)
    rows = pq.read_table(path).to_pandas()
    assert sorted(rows["path"].unique()) == [0, 1]
    months = sorted(rows["month"].astype(str).unique())
    assert len(months) == ds.sizes["month"] + 1  # the opening snapshot, then months 1..H
    opening = rows[rows["month"].astype(str) == months[0]]
    assert (
        fen(opening.groupby("path")["principal"].sum()).tolist()
        == [int(fen(run.opening_principal))] * 2
    )
    active = rows["dpd"].astype(str).isin(ACTIVE_STATES)
    for k in (0, 1):
        for m, label in enumerate(months[1:]):
            at = (rows["path"] == k) & (rows["month"].astype(str) == label)
            here = run.isel(path=k, month=m)
            assert fen(rows.loc[at & active, "principal"]).sum() == int(
                fen(here.balance.sel(state=list(ACTIVE_STATES)).sum())
            )
            assert fen(rows.loc[at, "paid"]).sum() == sum(int(fen(here[n])) for n in PAYMENTS)
            assert fen(rows.loc[at, "recovery"]).sum() == sum(int(fen(here[n])) for n in RECOVERED)
    states = set(rows["dpd"].astype(str))
    assert {"current", "dpd_151_180", "charged_off", "paid_off", "settled"} <= states
    assert rows["loan_id"].astype(str).str.startswith("new-").any()  # new loans have rows


def test_both_engines_write_the_same_panel(panels) -> None:
    numba = pq.read_table(panels["numba"][1])
    numpy = pq.read_table(panels["numpy"][1])
    assert numba.num_rows > 10_000
    assert numba.equals(numpy)


def test_the_panel_loads_and_calibrate_then_run_works_on_it(cli, panels, tmp_path) -> None:
    _, path = panels["numba"]
    panel = load_panel(path, load_model("default"))  # validated: no gaps, jumps or duplicates
    assert len(panel.loan) == pq.read_metadata(path).num_rows
    model = tmp_path / "fitted.toml"
    result = cli("calibrate", path, "--out", model)
    assert result.exit_code == 0, result.output
    assert cli("scenarios", "check", model).exit_code == 0
    result = cli("run", "--model", model, "--synthetic", "500", "--scenario", "baseline",
                 "--paths", "2", "--horizon", "6", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output


def test_a_cli_panel_out_run_writes_the_file_and_bad_options_are_refused(
    cli, bad_input, tmp_path
) -> None:
    out = tmp_path / "p.parquet"
    args = ("run", "--synthetic", "400", "--scenario", "baseline", "--paths", "2",
            "--horizon", "4", "--quiet", "--json")  # fmt: skip
    result = cli(*args, "--panel-out", out, "--panel-paths", "1")
    assert result.exit_code == 0, result.output
    assert set(pq.read_table(out)["path"].to_pylist()) == {0}
    bad_input(cli(*args, "--panel-out", tmp_path / "p.csv"), "p.csv", ".parquet")
    bad_input(cli(*args, "--panel-out", tmp_path / "q.parquet", "--panel-paths", "3"),
              "panel_paths", "from 1 to the number of paths (2)")  # fmt: skip
    assert not (tmp_path / "q.parquet").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["p.parquet"]  # nothing half-written
