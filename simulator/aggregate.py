"""Integer kernel totals -> an xarray Dataset of SPEC 6 (money in CNY, counts as int64).

Everything is computed in fen first; the conversion to CNY (``fen / 100``) is the last step, so
every figure is exact to the fen and ``round(value * 100)`` gives the fen back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from simulator import variables as V
from simulator.engine.arrays import book_index
from simulator.engine.layout import ACCOUNTS, BALANCE, FLOW, FLOWS
from simulator.inputs.treasury import Treasury
from simulator.liquidity import waterfall
from simulator.states import ACTIVE_STATES, STATES

FEN_PER_CNY = 100


@dataclass
class RunTotals:
    """Kernel totals of one (scenario, policy), summed over chunks, for all paths."""

    flows: np.ndarray  # (P, H, G, F) int64
    stocks: np.ndarray  # (P, H, G, S, 2) int64: active states' stocks, terminal states' entries
    z: np.ndarray  # (P, H, G) float64
    collection_cost_per_account: int  # fen per delinquent account-month
    operating_cost_per_account: int  # fen per active account-month

    def fen(self) -> dict[str, np.ndarray]:
        """Every per-path variable in integer units (fen or counts), segment axis kept."""
        out = {name: self.flows[..., FLOW[name]] for name in FLOWS}
        out["collection_cost"] = out["delinquent_accounts"] * self.collection_cost_per_account
        out["operating_cost"] = out["active_accounts"] * self.operating_cost_per_account
        out["net_credit_loss"] = (
            out["chargeoff_principal"] + out["settlement_loss"] - out["recoveries"]
        )
        balance = self.stocks[..., BALANCE].copy()
        accounts = self.stocks[..., ACCOUNTS].copy()
        terminal = slice(len(ACTIVE_STATES), None)
        accounts[..., terminal] = np.cumsum(accounts[..., terminal], axis=1)  # entries -> stock
        out["balance"], out["accounts"] = balance, accounts
        return out


def build_dataset(
    totals: Mapping[tuple[str, str], RunTotals],
    *,
    scenarios: list[str],
    policies: list[str],
    segments: tuple[str, ...],
    start: pd.Timestamp,
    segment_opening_fen: np.ndarray,
    treasury: Treasury,
    spreads: Mapping[str, np.ndarray],
    attrs: dict[str, Any],
) -> xr.Dataset:
    """Stack the runs into one Dataset with dims (scenario, policy, path, month, ...).

    ``segment_opening_fen``: opening principal by segment; ``spreads``: each scenario's funding
    spread by month (annual fraction), for the treasury's liquidity waterfall.
    """
    first = totals[(scenarios[0], policies[0])]
    paths, horizon = first.flows.shape[:2]
    opening_principal_fen = int(segment_opening_fen.sum())
    per_run = {
        (s, p): run_values(run, segment_opening_fen, treasury, spreads[s], opening_principal_fen)
        for (s, p), run in totals.items()
    }
    data = _variables(totals, per_run, scenarios, policies, segments, segment_opening_fen)
    ds = xr.Dataset(
        {name: xr.Variable(dims, values) for name, (dims, values) in data.items()},
        coords={
            V.SCENARIO: scenarios,
            V.POLICY: policies,
            V.PATH: np.arange(paths),
            V.MONTH: np.arange(1, horizon + 1),
            "date": (V.MONTH, pd.date_range(start, periods=horizon, freq="MS")),
            V.SEGMENT: list(segments),
            V.STATE: list(STATES),
        },
        attrs=attrs,
    )
    for key in ds.data_vars:
        var = V.get(str(key))
        ds[key].attrs.update(units=var.units, long_name=var.long_name, description=var.doc)
    return ds


def run_values(
    run: RunTotals,
    segment_opening_fen: np.ndarray,
    treasury: Treasury,
    spread: np.ndarray,
    opening_principal_fen: int,
) -> dict[str, np.ndarray]:
    """Every variable of one (scenario, policy) in integer units, the treasury's included."""
    values = run.fen()
    by_path = {name: v.sum(axis=2) for name, v in values.items() if v.ndim == 3}
    cash = waterfall(by_path, book_index(run.z, segment_opening_fen), treasury, spread,
                     opening_principal_fen)  # fmt: skip
    for name in ("funding_interest", "funding_repaid", "net_cash_flow", "liquidity_buffer"):
        values[name] = getattr(cash, name)[:, :, None]  # a segment axis of one, summed below
    values["min_buffer"] = cash.min_buffer
    values["survival_months"] = cash.survival_months
    return values


def _variables(
    totals: Mapping[tuple[str, str], RunTotals],
    per_run: Mapping[tuple[str, str], dict[str, np.ndarray]],
    scenarios: list[str],
    policies: list[str],
    segments: tuple[str, ...],
    segment_opening_fen: np.ndarray,
) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    """Each registered variable as (dims, values), stacked over scenarios and policies; money
    converted from fen to CNY."""
    opening_principal_fen = int(segment_opening_fen.sum())

    def stack(name: str, reduce_segments: bool) -> np.ndarray:
        rows = []
        for s in scenarios:
            cols = []
            for p in policies:
                value = per_run[(s, p)][name]
                cols.append(value.sum(axis=2) if reduce_segments else value)
            rows.append(np.stack(cols))
        return np.stack(rows)

    data: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}

    def put(name: str, values: np.ndarray) -> None:
        var = V.get(name)
        money = var.units == "CNY"
        data[name] = (var.dims, values / FEN_PER_CNY if money else values)

    money_and_counts = [n for n, v in V.registered().items() if v.dims == V.PATH_MONTH]
    for name in money_and_counts:
        put(name, stack(name, reduce_segments=True))
    put("balance", stack("balance", reduce_segments=True))
    put("accounts", stack("accounts", reduce_segments=True))
    put("segment_balance", stack("balance", reduce_segments=False))
    put("segment_net_credit_loss", stack("net_credit_loss", reduce_segments=False))
    z = np.stack([np.stack([totals[(s, p)].z for p in policies]) for s in scenarios])
    data["macro_index"] = (V.get("macro_index").dims, z)

    put("min_buffer", stack("min_buffer", reduce_segments=False))
    put("survival_months", stack("survival_months", reduce_segments=False))
    opening_by_segment = np.broadcast_to(
        segment_opening_fen, (len(scenarios), len(policies), len(segments))
    )
    put("segment_opening_principal", np.array(opening_by_segment))
    cumulative = stack("net_credit_loss", reduce_segments=True).sum(axis=-1)
    put("cumulative_net_loss", cumulative)
    opening = np.full((len(scenarios), len(policies)), opening_principal_fen, dtype=np.int64)
    put("opening_principal", opening)
    data["loss_rate"] = (V.get("loss_rate").dims, cumulative / max(opening_principal_fen, 1))
    return data
