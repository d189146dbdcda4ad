"""Accounting and prudential rules (SPEC 10): ``[provisions]`` in the model file and ``[capital]``
in the treasury file.

* **Staging** (IFRS 9 / CAS 22, 企业会计准则第22号): an active loan is in stage 3 above
  ``stage_3_dpd`` days past due (IFRS 9 B5.5.37: default no later than 90 days past due), in
  stage 2 above ``stage_2_dpd`` (IFRS 9 5.5.11: the 30-day rebuttable presumption of a
  significant increase in credit risk) or while it is within ``probation_months`` of a
  restructuring (a forborne exposure), else in stage 1.
* **Five categories** (五级分类): by days past due, from the credit-card rules for unsecured retail
  credit (商业银行信用卡业务监督管理办法, CBRC Order 2011 No. 2, art. 92: 关注 1-90 DPD, 次级
  91-120, 可疑 121-180, 损失 above 180), and for restructured loans during their observation
  period a floor (商业银行金融资产风险分类办法, CBIRC/PBoC Order 2023 No. 1: restructured assets
  are observed for at least two repayment periods and not less than a year from the first
  repayment after restructuring; the floors are configurable, see the model file).
* **Capital**: initial capital, the minimum ratio, and risk weights, standardised (regulatory
  retail 75%) or IRB (the Basel retail formula with the model's PD and LGD).

The engine works in 30-day buckets, so every day threshold must fall on a bucket boundary.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from simulator.inputs._toml import Node
from simulator.states import ACTIVE_STATES, M1, M6

CATEGORIES: tuple[str, ...] = ("normal", "special_mention", "substandard", "doubtful", "loss")
"""正常, 关注, 次级, 可疑, 损失: the regulatory five categories, best first."""
NORMAL, SPECIAL_MENTION, SUBSTANDARD, DOUBTFUL, LOSS = range(5)
NON_PERFORMING = (SUBSTANDARD, DOUBTFUL, LOSS)
STAGES: tuple[str, ...] = ("stage_1", "stage_2", "stage_3")
APPROACHES = ("standardised", "irb")
BUCKET_DAYS = 30


@dataclass(frozen=True)
class ProvisionRules:
    """Staging and classification rules, as state codes the kernels compare with."""

    stage_2_state: int  # first active state in stage 2 by days past due (M2: > 30 DPD)
    stage_3_state: int  # first active state in stage 3 (M4: > 90 DPD)
    probation_months: int  # months a restructured loan stays at least in stage 2
    category: np.ndarray  # (7,) int8: category of each active state (not restructured)
    observation_months: int  # observation period of a restructured loan
    restructured_floor: int  # category floor of a restructured loan under observation
    restructured_overdue_floor: int  # ... and when it is also past due

    def stage(self, state: np.ndarray, in_probation: np.ndarray) -> np.ndarray:
        """Stage code (0, 1, 2 for stages 1-3) of active loans."""
        stage = np.where(state >= self.stage_2_state, 1, 0)
        stage = np.where(in_probation, np.maximum(stage, 1), stage)
        return np.where(state >= self.stage_3_state, 2, stage).astype(np.int8)

    def classify(self, state: np.ndarray, observed: np.ndarray) -> np.ndarray:
        """Category code of active loans; ``observed``: restructured, within observation."""
        category = self.category[state]
        floor = np.where(state > 0, self.restructured_overdue_floor, self.restructured_floor)
        return np.where(observed, np.maximum(category, floor), category).astype(np.int8)


DEFAULT_PROVISIONS = {
    "stage_2_dpd": 30,
    "stage_3_dpd": 90,
    "probation_months": 12,
    "classification": {
        "special_mention_dpd": 1,
        "substandard_dpd": 91,
        "doubtful_dpd": 121,
        "loss_dpd": 181,
        "observation_months": 12,
        "restructured": "special_mention",
        "restructured_overdue": "substandard",
    },
}
"""The documented defaults (see the module docstring); the shipped model file states them."""


def provision_rules(node: Node | None) -> ProvisionRules:
    """Read ``[provisions]`` (absent: the defaults)."""
    if node is None:
        from pathlib import Path

        node = Node(DEFAULT_PROVISIONS, Path("(default provisions)"), "provisions")
    node.table(["stage_2_dpd", "stage_3_dpd", "probation_months", "classification"])
    stage_2 = _first_state_above(node["stage_2_dpd"])
    stage_3 = _first_state_above(node["stage_3_dpd"])
    if stage_3 < stage_2:
        raise node["stage_3_dpd"].fail("must not be below stage_2_dpd")
    c = node["classification"].table(
        [
            "special_mention_dpd",
            "substandard_dpd",
            "doubtful_dpd",
            "loss_dpd",
            "observation_months",
            "restructured",
            "restructured_overdue",
        ]
    )
    starts = [_first_state_from(c[f"{name}_dpd"]) for name in CATEGORIES[1:]]
    if any(a > b for a, b in itertools.pairwise(starts)):
        raise c.fail("category thresholds must not decrease from special_mention to loss")
    state = np.arange(len(ACTIVE_STATES))
    category = np.searchsorted(np.array(starts), state, side="right").astype(np.int8)
    return ProvisionRules(
        stage_2_state=stage_2,
        stage_3_state=stage_3,
        probation_months=node["probation_months"].integer(0, 600),
        category=category,
        observation_months=c["observation_months"].integer(0, 600),
        restructured_floor=CATEGORIES.index(c["restructured"].string(CATEGORIES)),
        restructured_overdue_floor=CATEGORIES.index(c["restructured_overdue"].string(CATEGORIES)),
    )


def _first_state_above(node: Node) -> int:
    """The first bucket beyond ``days`` past due (``> days``): days must end a bucket."""
    days = node.integer(0, BUCKET_DAYS * M6)
    if days % BUCKET_DAYS:
        raise node.fail(f"must be a multiple of {BUCKET_DAYS} days (the engine's buckets)")
    return days // BUCKET_DAYS + 1


def _first_state_from(node: Node) -> int:
    """The first bucket from ``days`` past due on (``>= days``): days must start a bucket."""
    days = node.integer(1, BUCKET_DAYS * M6 + 1)
    if (days - 1) % BUCKET_DAYS:
        raise node.fail(f"must be 1 plus a multiple of {BUCKET_DAYS} days (1, 31, 61, ...)")
    return (days - 1) // BUCKET_DAYS + M1  # 181 -> 7: beyond M6, i.e. charged off


# --- capital -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapitalRules:
    initial: float  # share of opening principal (basis "book") or CNY (basis "absolute")
    minimum_ratio: float
    approach: str  # "standardised" or "irb"
    tax_rate: float
    retail_weight: float  # standardised: non-defaulted regulatory retail
    defaulted_weight: float  # standardised: defaulted, specific provisions below the threshold
    defaulted_provisioned_weight: float  # ... at or above it
    provisioned_threshold: float  # specific provisions / outstanding
    pd_floor: float  # IRB
    lgd_floor: float  # IRB
    provision_coverage_reference: float
    loan_loss_provision_reference: float


DEFAULT_CAPITAL = {
    "initial": 0.12,
    "minimum_ratio": 0.105,
    "approach": "standardised",
    "tax_rate": 0.0,
    "standardised": {
        "retail": 0.75,
        "defaulted": 1.5,
        "defaulted_provisioned": 1.0,
        "provisioned_threshold": 0.2,
    },
    "irb": {"pd_floor": 0.0005, "lgd_floor": 0.30},
    "reference": {"provision_coverage": 1.5, "loan_loss_provision_ratio": 0.025},
}
"""Documented defaults: see the shipped treasury files for the sources of each number."""


def capital_rules(node: Node | None) -> CapitalRules:
    """Read ``[capital]`` (absent: the defaults)."""
    if node is None:
        from pathlib import Path

        node = Node(DEFAULT_CAPITAL, Path("(default capital)"), "capital")
    node.table(
        ["initial", "minimum_ratio", "approach", "tax_rate", "standardised", "irb", "reference"]
    )
    sa = node["standardised"].table(
        ["retail", "defaulted", "defaulted_provisioned", "provisioned_threshold"]
    )
    irb = node["irb"].table(["pd_floor", "lgd_floor"])
    reference = node["reference"].table(["provision_coverage", "loan_loss_provision_ratio"])
    return CapitalRules(
        initial=node["initial"].number(0.0),
        minimum_ratio=node["minimum_ratio"].number(0.0, 1.0),
        approach=node["approach"].string(APPROACHES),
        tax_rate=node["tax_rate"].number(0.0, 1.0, hi_open=True),
        retail_weight=sa["retail"].number(0.0, 12.5),
        defaulted_weight=sa["defaulted"].number(0.0, 12.5),
        defaulted_provisioned_weight=sa["defaulted_provisioned"].number(0.0, 12.5),
        provisioned_threshold=sa["provisioned_threshold"].probability(),
        pd_floor=irb["pd_floor"].number(0.0, 1.0, hi_open=True),
        lgd_floor=irb["lgd_floor"].probability(),
        provision_coverage_reference=reference["provision_coverage"].number(0.0),
        loan_loss_provision_reference=reference["loan_loss_provision_ratio"].number(0.0, 1.0),
    )
