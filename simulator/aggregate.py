"""Integer kernel totals -> an xarray Dataset of SPEC 6 (money in CNY, counts as int64).

Everything is computed in fen first; the conversion to CNY (``fen / 100``) is the last step, so
every figure is exact to the fen and ``round(value * 100)`` gives the fen back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from simulator import variables as V
from simulator.behaviour import (
    KINDS,
    dpd90_ratio,
    payment_rates,
    relief_outcomes,
    vintage_curve,
)
from simulator.engine.arrays import book_index
from simulator.engine.layout import ACCOUNTS, BALANCE, FLOW, FLOWS, REDEFAULT_MONTHS
from simulator.inputs.accounting import CATEGORIES, STAGES, ProvisionRules
from simulator.inputs.treasury import Treasury
from simulator.liquidity import waterfall
from simulator.states import ACTIVE_STATES, STATES

FEN_PER_CNY = 100
PROVISION_VARIABLES = (
    "stage_balance",
    "stage_accounts",
    "stage_transfers",
    "allowance",
    "category_balance",
    "credit_loss_expense",
    "lifetime_net_loss",
    "tier_net_credit_loss",
    "capital",
    "risk_weighted_assets",
    "capital_breach_month",
    "npl_ratio",
    "provision_coverage",
    "loan_loss_provision_ratio",
    "capital_ratio",
    "opening_allowance",
    "opening_capital",
)
"""The variables of SPEC 10 (absent from a run without provisions)."""
RELIEF_VARIABLES = (
    "restructured_observed", "redefault_loans", "redefault_rate", "holiday_observed",
    "holiday_current_share",
)  # fmt: skip
"""Per-path outcomes of relief (``behaviour``), not per month."""
VINTAGE_VARIABLES = ("vintage_dpd30_balance", "vintage_dpd30")
"""The new loans' vintage curve (``behaviour``), by months on book."""


@dataclass
class RunTotals:
    """Kernel totals of one (scenario, policy), summed over chunks, for all paths."""

    flows: np.ndarray  # (P, H, G, F) int64
    stocks: np.ndarray  # (P, H, G, S, 2) int64: active states' stocks, terminal states' entries
    z: np.ndarray  # (P, H, G) float64
    collection_cost_per_account: int  # fen per delinquent account-month
    operating_cost_per_account: int  # fen per active account-month
    contact_cost: int  # fen per early contact (a Day-1 miss reported overdue)
    holiday_months: int  # the policy's holiday length (0: none), for the holiday outcome
    ledger: np.ndarray  # (P, H, L) int64: the provisions ledger (engine.layout)
    rwa: np.ndarray  # (P, H) int64 fen
    tier_loss: np.ndarray  # (P, G, T) int64 fen over the horizon
    opening_allowance: int  # fen
    weight: np.ndarray  # (P,) float64: each path's likelihood ratio (tail sampling; else 1)

    def fen(self) -> dict[str, np.ndarray]:
        """Every per-path variable in integer units (fen or counts), segment axis kept."""
        out = {name: self.flows[..., FLOW[name]] for name in FLOWS}
        out["collection_cost"] = (
            out["delinquent_accounts"] * self.collection_cost_per_account
            + out["early_contacts"] * self.contact_cost
        )
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
    tiers: tuple[str, ...],
    start: pd.Timestamp,
    segment_opening_fen: np.ndarray,
    treasury: Treasury,
    spreads: Mapping[str, np.ndarray],
    attrs: dict[str, Any],
    provisions: ProvisionRules | None,
    scenario_weights: Sequence[float | None] = (),
) -> xr.Dataset:
    """Stack the runs into one Dataset with dims (scenario, policy, path, month, ...).

    ``segment_opening_fen``: opening principal by segment; ``spreads``: each scenario's funding
    spread by month (annual fraction), for the treasury's liquidity waterfall; ``provisions``:
    the model's staging and category rules (None: a run without provisions, whose SPEC 10
    variables are left out); ``scenario_weights``: each scenario's probability, if its file
    gives one (the ``scenario_weight`` coordinate, NaN where absent).
    """
    first = totals[(scenarios[0], policies[0])]
    paths, horizon = first.flows.shape[:2]
    opening_principal_fen = int(segment_opening_fen.sum())
    per_run = {
        (s, p): run_values(
            run, segment_opening_fen, treasury, spreads[s], opening_principal_fen, provisions
        )
        for (s, p), run in totals.items()
    }
    data = _variables(totals, per_run, scenarios, policies, segments, segment_opening_fen)
    if provisions is not None:
        data.update(_provision_variables(per_run, scenarios, policies, opening_principal_fen))
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
            V.TIER: list(tiers),
            V.STAGE: list(STAGES),
            V.FROM_STAGE: list(STAGES),
            V.TO_STAGE: list(STAGES),
            V.CATEGORY: list(CATEGORIES),
            V.MONTHS_SINCE: list(REDEFAULT_MONTHS),
            V.KIND: list(KINDS),
            V.MONTHS_ON_BOOK: np.arange(1, horizon),
            "scenario_weight": (
                V.SCENARIO,
                [np.nan if w is None else w for w in scenario_weights or [None] * len(scenarios)],
            ),
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
    provisions: ProvisionRules | None = None,
) -> dict[str, np.ndarray]:
    """Every variable of one (scenario, policy) in integer units, the treasury's and (with
    ``provisions``) the books' included."""
    values = run.fen()
    by_path = {name: v.sum(axis=2) for name, v in values.items() if v.ndim == 3}
    cash = waterfall(
        by_path, book_index(run.z, segment_opening_fen), treasury, spread, opening_principal_fen
    )
    for name in ("funding_interest", "funding_repaid", "net_cash_flow", "liquidity_buffer"):
        values[name] = getattr(cash, name)[:, :, None]  # a segment axis of one, summed below
    values["min_buffer"] = cash.min_buffer
    values["survival_months"] = cash.survival_months
    for name, value in payment_rates(by_path).items():
        values[name] = value[:, :, None]
    values["dpd90_ratio"] = dpd90_ratio(values["balance"])[:, :, None]
    values.update(relief_outcomes(by_path, run.holiday_months))
    values.update(vintage_curve(by_path))
    if provisions is not None:
        by_path["funding_interest"] = cash.funding_interest
        values.update(_books(run, by_path, treasury, provisions, opening_principal_fen))
    return values


def _books(
    run: RunTotals,
    by_path: dict[str, np.ndarray],
    treasury: Treasury,
    provisions: ProvisionRules,
    opening_principal_fen: int,
) -> dict[str, np.ndarray]:
    """The SPEC 10 variables of one run (``provisions.capital``); per-path-month ones get a
    segment axis of one, like the treasury's."""
    from simulator.liquidity import amount_fen
    from simulator.provisions.capital import book_accounts

    opening_capital = amount_fen(treasury, treasury.capital.initial, opening_principal_fen)
    books = book_accounts(
        run.ledger,
        run.stocks,
        by_path,
        run.rwa,
        run.tier_loss,
        opening_allowance=run.opening_allowance,
        opening_capital=opening_capital,
        provisions=provisions,
        rules=treasury.capital,
    )
    values = books.variables()
    for name, value in values.items():
        if V.get(name).dims == V.PATH_MONTH:
            values[name] = value[:, :, None]
    values["opening_allowance"] = np.array(run.opening_allowance)
    values["opening_capital"] = np.array(opening_capital)
    return values


def _provision_variables(
    per_run: Mapping[tuple[str, str], dict[str, np.ndarray]],
    scenarios: list[str],
    policies: list[str],
    opening_principal_fen: int,
) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    """The SPEC 10 variables that are not per path and month, stacked; CNY from fen."""
    out: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    names = [n for n in per_run[(scenarios[0], policies[0])] if n in PROVISION_VARIABLES]
    for name in names:
        var = V.get(name)
        if var.dims == V.PATH_MONTH:
            continue  # with the other per-path-month variables
        values = np.stack([np.stack([per_run[(s, p)][name] for p in policies]) for s in scenarios])
        out[name] = (var.dims, values / FEN_PER_CNY if var.units == "CNY" else values)
    lifetime = out["lifetime_net_loss"][1] * FEN_PER_CNY
    out["lifetime_loss_rate"] = (
        V.get("lifetime_loss_rate").dims,
        lifetime / max(opening_principal_fen, 1),
    )
    return out


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

    present = per_run[(scenarios[0], policies[0])]
    money_and_counts = [
        n for n, v in V.registered().items() if v.dims == V.PATH_MONTH and n in present
    ]
    for name in money_and_counts:
        put(name, stack(name, reduce_segments=True))
    put("balance", stack("balance", reduce_segments=True))
    put("accounts", stack("accounts", reduce_segments=True))
    put("segment_balance", stack("balance", reduce_segments=False))
    put("segment_net_credit_loss", stack("net_credit_loss", reduce_segments=False))
    z = np.stack([np.stack([totals[(s, p)].z for p in policies]) for s in scenarios])
    data["macro_index"] = (V.get("macro_index").dims, z)
    weight = np.stack([np.stack([totals[(s, p)].weight for p in policies]) for s in scenarios])
    data["weight"] = (V.get("weight").dims, weight)

    put("min_buffer", stack("min_buffer", reduce_segments=False))
    put("survival_months", stack("survival_months", reduce_segments=False))
    for name in (*RELIEF_VARIABLES, *VINTAGE_VARIABLES):
        put(name, stack(name, reduce_segments=False))
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
