"""The treasury's liquidity waterfall (SPEC 3.5, 6): cash in and out, funding, the buffer.

Per path and month, in integer fen:

* inflows: instalments collected (interest and principal), penalty interest of late payers,
  prepayments, settlement cash and recoveries (already net of agency fees);
* outflows: new lending, collection, legal, mediation and operating costs, interest on the
  funding tranches (their rate plus the scenario's funding spread), and the part of a maturing
  tranche that lenders do not roll over;
* ``liquidity_buffer[t] = buffer[t-1] + net_cash_flow[t]``, from the treasury's initial buffer.

A tranche matures every ``maturity_month`` months; at each maturity the fraction
``clip(base + sensitivity * Z, floor, 1)`` rolls over (Z: the book-weighted credit-cycle index
of that path and month) and the rest is repaid from the buffer. Amounts of a ``basis = "book"``
treasury are shares of the opening principal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.inputs.scenario import Scenario
from simulator.inputs.treasury import MacroResponse, Treasury

FUNDING_SPREAD = "funding_spread_bp"
INFLOWS = ("collected_interest", "late_interest", "collected_principal", "prepaid_principal",
           "settlement_cash", "recoveries")  # fmt: skip
COSTS = ("collection_cost", "legal_cost", "mediation_fee", "operating_cost")


@dataclass(frozen=True)
class Liquidity:
    """Treasury flows of one (scenario, policy), all (P, H) int64 fen, and per-path results."""

    funding_interest: np.ndarray
    funding_repaid: np.ndarray
    net_cash_flow: np.ndarray
    liquidity_buffer: np.ndarray
    min_buffer: np.ndarray  # (P,) fen: the lowest end-of-month buffer
    survival_months: np.ndarray  # (P,) first month with the buffer below 0; H + 1 if never


def amount_fen(treasury: Treasury, amount: float, opening_fen: int) -> int:
    """A treasury amount in fen (a share of the opening principal on a ``book`` basis)."""
    if treasury.basis == "book":
        return round(amount * opening_fen)
    return round(amount * 100)


def response(r: MacroResponse, z: np.ndarray) -> np.ndarray:
    return np.clip(r.base + r.sensitivity * z, r.floor, 1.0)


def funding_spread(scenario: Scenario, horizon: int) -> np.ndarray:
    """Funding spread (annual, as a fraction) for months 1..horizon; 0 if the scenario has none."""
    if FUNDING_SPREAD not in scenario.anchors:
        return np.zeros(horizon)
    return scenario.macro_path(FUNDING_SPREAD, horizon)[1:] / 10_000.0


def waterfall(
    flows: dict[str, np.ndarray],
    z_book: np.ndarray,
    treasury: Treasury,
    spread: np.ndarray,
    opening_fen: int,
) -> Liquidity:
    """Run the waterfall on per-path flows ``flows[name]`` (P, H) in fen."""
    paths, horizon = z_book.shape
    inflow = sum(flows[name] for name in INFLOWS)
    outflow = flows["originated_principal"] + sum(flows[name] for name in COSTS)
    outstanding = np.array(
        [np.full(paths, amount_fen(treasury, t.amount, opening_fen), np.int64)
         for t in treasury.tranches]
    ).reshape(len(treasury.tranches), paths)  # fmt: skip
    interest = np.zeros((paths, horizon), np.int64)
    repaid = np.zeros((paths, horizon), np.int64)
    for month in range(1, horizon + 1):
        t = month - 1
        for j, tranche in enumerate(treasury.tranches):
            monthly_rate = (tranche.rate + spread[t]) / 12.0
            interest[:, t] += np.rint(outstanding[j] * monthly_rate).astype(np.int64)
            if month % tranche.maturity_month == 0:
                rolled = response(tranche.rollover, z_book[:, t])
                repayment = np.rint(outstanding[j] * (1.0 - rolled)).astype(np.int64)
                outstanding[j] -= repayment
                repaid[:, t] += repayment
    net = inflow - outflow - interest - repaid
    buffer = amount_fen(treasury, treasury.initial_buffer, opening_fen) + np.cumsum(net, axis=1)
    short = buffer < 0
    survival = np.where(short.any(axis=1), short.argmax(axis=1) + 1, horizon + 1)
    return Liquidity(
        funding_interest=interest,
        funding_repaid=repaid,
        net_cash_flow=net,
        liquidity_buffer=buffer,
        min_buffer=buffer.min(axis=1),
        survival_months=survival.astype(np.int64),
    )
