"""From the kernels' provisions ledger to the bank's books: allowance roll-forward, the credit
loss expense, asset quality ratios, risk-weighted assets and capital (SPEC 10).

All money is integer fen until the ratios, so the identities hold exactly on every path:

* ``stage_balance`` summed over stages = principal on book (active states);
* allowance roll-forward: ``opening + sum(credit_loss_expense) - sum(net_credit_loss) =
  closing``, where ``credit_loss_expense[t] = allowance[t] - allowance[t-1] + net_credit_loss[t]``;
* capital roll-forward: ``capital[t] = capital[t-1] + profit[t] - tax[t]``, with ``profit`` =
  interest collected (instalments, prepayments, late payers' penalty interest and the interest
  part of settlement cash) -
  funding interest - collection, legal, mediation and operating costs - credit loss expense.

Risk weights (``[capital]`` of the treasury file): *standardised* - non-defaulted regulatory retail
at ``retail`` (75%: Basel III CRE20.65-20.67; NFRA 2023 capital rules), defaulted exposures (stage
3) net of their specific provisions at ``defaulted`` (150%) or, once those provisions reach
``provisioned_threshold`` (20%) of the outstanding, ``defaulted_provisioned`` (100%: CRE20.88);
*IRB* - the Basel retail formula (CRE31.14-31.15, other retail correlation) with each segment and
tier's through-the-cycle 12-month PD and its LGD from the model, floored (CRE32.48-32.50), and for
defaulted exposures ``K = max(0, LGD - specific provisions / outstanding)`` (CRE31.12).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from simulator.engine.layout import (
    ACCOUNTS,
    ALLOWANCE,
    BALANCE,
    N_CATEGORIES,
    N_STAGES,
    STAGE_BALANCE,
)
from simulator.engine.tables import base_probits, beta_quantiles
from simulator.inputs.accounting import NON_PERFORMING, CapitalRules, ProvisionRules
from simulator.inputs.model import Model
from simulator.inputs.policy import Policy
from simulator.states import ACTIVE_STATES, CURRENT

IRB_CONFIDENCE = 0.999


@dataclass(frozen=True)
class Books:
    """Provisions, asset quality and capital of one (scenario, policy), per path and month."""

    stage_balance: np.ndarray  # (P, H, 3) fen
    stage_accounts: np.ndarray  # (P, H, 3)
    stage_transfers: np.ndarray  # (P, H, 3, 3) loans by (stage last month, stage this month)
    allowance: np.ndarray  # (P, H, 3) fen
    category_balance: np.ndarray  # (P, H, 5) fen
    credit_loss_expense: np.ndarray  # (P, H) fen
    lifetime_net_loss: np.ndarray  # (P,) net credit loss over the horizon + closing allowance
    tier_net_credit_loss: np.ndarray  # (P, G, K) fen over the horizon
    capital: np.ndarray  # (P, H) fen
    risk_weighted_assets: np.ndarray  # (P, H) fen
    capital_breach_month: np.ndarray  # (P,) first month below the minimum ratio, H + 1 if none

    def variables(self) -> dict[str, np.ndarray]:
        """The SPEC 10 variables of one (scenario, policy), money in fen, as registered."""
        return {
            "stage_balance": self.stage_balance,
            "stage_accounts": self.stage_accounts,
            "stage_transfers": self.stage_transfers,
            "allowance": self.allowance,
            "category_balance": self.category_balance,
            "credit_loss_expense": self.credit_loss_expense,
            "lifetime_net_loss": self.lifetime_net_loss,
            "tier_net_credit_loss": self.tier_net_credit_loss,
            "capital": self.capital,
            "risk_weighted_assets": self.risk_weighted_assets,
            "capital_breach_month": self.capital_breach_month,
            **self.ratios(),
        }

    def ratios(self) -> dict[str, np.ndarray]:
        """NPL ratio, provision coverage, loan-loss provision ratio and capital ratio (P, H)."""
        gross = self.stage_balance.sum(axis=-1)
        npl = self.category_balance[..., list(NON_PERFORMING)].sum(axis=-1)
        allowance = self.allowance.sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return {
                "npl_ratio": np.where(gross > 0, npl / np.maximum(gross, 1), 0.0),
                "provision_coverage": np.where(npl > 0, allowance / np.maximum(npl, 1), np.nan),
                "loan_loss_provision_ratio": np.where(
                    gross > 0, allowance / np.maximum(gross, 1), 0.0
                ),
                "capital_ratio": np.where(
                    self.risk_weighted_assets > 0,
                    self.capital / np.maximum(self.risk_weighted_assets, 1),
                    np.nan,
                ),
            }


def book_accounts(
    ledger: np.ndarray,
    stocks: np.ndarray,
    flows: dict[str, np.ndarray],
    rwa: np.ndarray,
    tier_loss: np.ndarray,
    *,
    opening_allowance: int,
    opening_capital: int,
    provisions: ProvisionRules,
    rules: CapitalRules,
) -> Books:
    """Roll the ledger (P, H, L: summed over segments and tiers), the stocks (P, H, G, S, 2),
    the month's flows (P, H, fen; ``funding_interest`` included) and the risk-weighted assets
    (P, H) into the books."""
    stage_balance = ledger[..., STAGE_BALANCE : STAGE_BALANCE + 2 * N_STAGES : 2]
    allowance = ledger[..., ALLOWANCE : ALLOWANCE + 2 * N_STAGES : 2]
    total = allowance.sum(axis=-1)
    before = np.concatenate([np.full((len(total), 1), opening_allowance), total[:, :-1]], axis=1)
    net_loss = flows["net_credit_loss"]
    expense = total - before + net_loss
    capital = _capital(flows, expense, opening_capital, rules.tax_rate)
    below = (rwa > 0) & (capital < rules.minimum_ratio * rwa)
    horizon = below.shape[1]
    active = stocks[:, :, :, : len(ACTIVE_STATES)].sum(axis=2)  # (P, H, 7, 2)
    accounts = _stage_accounts(active[..., ACCOUNTS], flows, provisions)
    return Books(
        stage_balance=stage_balance,
        stage_accounts=accounts,
        stage_transfers=_transfers(accounts, flows),
        allowance=allowance,
        category_balance=_categories(active[..., BALANCE], flows, provisions),
        credit_loss_expense=expense,
        lifetime_net_loss=net_loss.sum(axis=1) + total[:, -1],
        tier_net_credit_loss=tier_loss,
        capital=capital,
        risk_weighted_assets=rwa,
        capital_breach_month=np.where(below.any(axis=1), below.argmax(axis=1) + 1, horizon + 1),
    )


def _stage_by_state(provisions: ProvisionRules) -> np.ndarray:
    state = np.arange(len(ACTIVE_STATES))
    return np.where(
        state >= provisions.stage_3_state, 2, np.where(state >= provisions.stage_2_state, 1, 0)
    )


def _stage_accounts(
    accounts: np.ndarray, flows: dict[str, np.ndarray], provisions: ProvisionRules
) -> np.ndarray:
    """Loans by stage (P, H, 3): by their bucket, and those raised to stage 2 by probation."""
    out = np.zeros((*accounts.shape[:2], N_STAGES), np.int64)
    for state, stage in enumerate(_stage_by_state(provisions)):
        out[..., stage] += accounts[..., state]
    raised = flows["probation_accounts"]
    out[..., 0] -= raised
    out[..., 1] += raised
    return out


def _categories(
    balance: np.ndarray, flows: dict[str, np.ndarray], provisions: ProvisionRules
) -> np.ndarray:
    """Principal by category (P, H, 5): by bucket, moved up to the floors of observation."""
    out = np.zeros((*balance.shape[:2], N_CATEGORIES), np.int64)
    for state, category in enumerate(provisions.category):
        out[..., category] += balance[..., state]
    for c in range(N_CATEGORIES):
        out[..., c] += flows[f"category_raised_to_{c}"] - flows[f"category_raised_from_{c}"]
    return out


def _transfers(accounts: np.ndarray, flows: dict[str, np.ndarray]) -> np.ndarray:
    """Loans by (stage last month, stage this month) (P, H, 3, 3); the diagonal (loans that
    stayed) is what is left of this month's stage once the arrivals and new loans are out."""
    moves = np.zeros((*accounts.shape, N_STAGES), np.int64)
    for a in range(N_STAGES):
        for b in range(N_STAGES):
            if a != b:
                moves[..., a, b] = flows[f"stage_transfer_{a}_{b}"]
    stayed = accounts - moves.sum(axis=2)
    stayed[..., 0] -= flows["new_accounts"]
    for s in range(N_STAGES):
        moves[..., s, s] = stayed[..., s]
    return moves


def profit(flows: dict[str, np.ndarray], expense: np.ndarray) -> np.ndarray:
    """Pre-tax profit per path and month, fen."""
    settlement_interest = flows["settlement_cash"] - (
        flows["settled_principal"] - flows["settlement_loss"]
    )
    income = flows["collected_interest"] + flows["late_interest"] + settlement_interest
    costs = sum(
        flows[name]
        for name in (
            "funding_interest",
            "collection_cost",
            "legal_cost",
            "mediation_fee",
            "operating_cost",
        )
    )
    return income - costs - expense


def _capital(
    flows: dict[str, np.ndarray], expense: np.ndarray, opening: int, tax_rate: float
) -> np.ndarray:
    pre_tax = profit(flows, expense)
    tax = np.rint(pre_tax * tax_rate).astype(np.int64)  # a loss gives a tax credit
    return opening + np.cumsum(pre_tax - tax, axis=1)


# --- risk-weighted assets ---------------------------------------------------------------------


@dataclass(frozen=True)
class IrbWeights:
    """IRB inputs per (segment, tier): PD, LGD and the non-defaulted risk weight."""

    pd: np.ndarray  # (G, K)
    lgd: np.ndarray  # (G,)
    risk_weight: np.ndarray  # (G, K)


def risk_weighted_assets(
    ledger: np.ndarray, rules: CapitalRules, irb: IrbWeights | None
) -> np.ndarray:
    """RWA (P, H) in fen from balances and allowances by (segment, tier, stage)."""
    performing = ledger[..., STAGE_BALANCE] + ledger[..., STAGE_BALANCE + 1]  # (P, H, G, K)
    defaulted = ledger[..., STAGE_BALANCE + 2]
    specific = ledger[..., ALLOWANCE + 2]
    if rules.approach == "irb":
        assert irb is not None
        capital_rate = np.maximum(irb.lgd[:, None] - specific / np.maximum(defaulted, 1), 0.0)
        weighted = performing * irb.risk_weight + 12.5 * capital_rate * defaulted
    else:
        provisioned = specific >= rules.provisioned_threshold * defaulted
        weight = np.where(provisioned, rules.defaulted_provisioned_weight, rules.defaulted_weight)
        weighted = rules.retail_weight * performing + weight * (defaulted - specific)
    return np.rint(weighted.sum(axis=(-1, -2))).astype(np.int64)


def irb_weights(model: Model, rules: CapitalRules) -> IrbWeights:
    """Through-the-cycle 12-month PD (probability that a current loan reaches stage 3 within 12
    months on the unshifted matrix: the average over Z ~ N(0, 1)) and LGD (principal lost at
    charge-off net of the agency recoveries' mean, undiscounted) per segment and tier, floored,
    and the Basel other-retail risk weight 12.5 K. The rating system is the bank's: its PDs are
    those of the model under baseline collections, whatever post-loan policy is run."""
    stage_3 = model.provisions.stage_3_state
    baseline = Policy(name="baseline collections", description="", source="", text="")
    probits = base_probits(model, baseline)[:, :, 0]  # (G, K, 7, 8) normal matrix, worst first
    cumulative = special.ndtr(probits)
    monthly = np.diff(cumulative, axis=-1, prepend=0.0)[..., ::-1]  # natural order
    pd = np.zeros(monthly.shape[:2])
    for g, k in np.ndindex(*pd.shape):
        chain = np.zeros((stage_3 + 1, stage_3 + 1))  # states below stage 3, then default
        for s in range(stage_3):
            row = monthly[g, k, s]
            chain[s, :stage_3] = row[:stage_3]
            chain[s, stage_3] = row[stage_3:].sum()
        chain[stage_3, stage_3] = 1.0
        pd[g, k] = np.linalg.matrix_power(chain, 12)[CURRENT, stage_3]
    rec = model.recovery
    recovered = (1 - (1 - rec.monthly_hazard) ** rec.window_months) * (
        beta_quantiles(rec.fraction_alpha, rec.fraction_beta).mean() * (1 - rec.agency_fee)
    )
    lgd = np.full(len(model.segments), max(1.0 - recovered, rules.lgd_floor))
    pd = np.clip(pd, rules.pd_floor, 1.0)
    return IrbWeights(pd=pd, lgd=lgd, risk_weight=12.5 * basel_retail_k(pd, lgd[:, None]))


def basel_retail_k(pd: np.ndarray, lgd: np.ndarray) -> np.ndarray:
    """Capital per unit of exposure, other retail (CRE31.15): correlation 0.03 to 0.16."""
    w = (1 - np.exp(-35 * pd)) / (1 - np.exp(-35))
    r = 0.03 * w + 0.16 * (1 - w)
    q = stats.norm.ppf(IRB_CONFIDENCE)
    conditional = special.ndtr((special.ndtri(pd) + np.sqrt(r) * q) / np.sqrt(1 - r))
    return lgd * (conditional - pd)
