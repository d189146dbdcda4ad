"""The model file (SPEC 3.2): how borrowers behave, by segment and score tier.

A model holds, per segment, the asset correlation ``rho``, the monthly prepayment probability,
the satellite coefficients ``beta`` that turn macro variables into the segment's credit-cycle
index, and the base monthly transition matrices (normal and restructured loans); per score tier
a cut-off and a probit offset ``delta``; and the response parameters of penalty interest,
grace-period cures, collections and recoveries.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator.errors import InputError
from simulator.inputs._toml import Node, root
from simulator.inputs.accounting import ProvisionRules, provision_rules
from simulator.inputs.files import read_toml, resolve
from simulator.states import ACTIVE_STATES, DESTINATIONS

ROW_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Segment:
    name: str
    rho: float
    prepayment: float
    beta: dict[str, float]
    normal: np.ndarray
    """Base monthly transition matrix, rows ACTIVE_STATES x columns DESTINATIONS."""
    restructured: np.ndarray
    """The same for loans that have been re-instalmented."""


@dataclass(frozen=True)
class Tier:
    name: str
    min_score: int
    delta: float
    """Probit offset: > 0 shifts the tier towards worse destinations."""


@dataclass(frozen=True)
class GraceResponse:
    moral_hazard_per_day: float
    """Relative rise of the miss probability per grace day offered (borrowers rely on grace)."""


@dataclass(frozen=True)
class PaymentBehaviour:
    """What happens between the due date and the month end (SPEC 11)."""

    quick_share: float
    """Share of the amounts missed on the due date (Day-1 delinquency) paid within the month."""
    pay_per_day: float
    """Daily probability of paying among those who pay within the month (days to pay)."""


@dataclass(frozen=True)
class ReliefMemory:
    """How a loan behaves after a re-instalment or a payment holiday (SPEC 11): its miss
    probability is multiplied by ``1 + (peak[bucket it came from] - 1) * decay^months``, the
    months counted from the end of the relief."""

    peak: np.ndarray  # (7,) by the active state the loan was relieved from
    decay: float
    tape_from: int  # the state assumed for a restructured loan of the tape (it does not say)


@dataclass(frozen=True)
class CollectionsResponse:
    cure_elasticity: float
    """Cure probabilities scale with intensity ** elasticity."""
    backlash: float
    """Above intensity 1, roll probabilities scale by 1 + backlash * (intensity - 1)."""


@dataclass(frozen=True)
class RecoveryModel:
    monthly_hazard: float
    """Probability per month that the agency recovers on a charged-off loan."""
    fraction_alpha: float
    fraction_beta: float
    """Recovered fraction of the charged-off balance ~ Beta(alpha, beta)."""
    agency_fee: float
    """Share of each recovery kept by the agency."""
    window_months: int
    """Months after charge-off during which the agency works the account."""


@dataclass(frozen=True)
class Model:
    name: str
    description: str
    source: str
    text: str
    segments: tuple[Segment, ...]
    tiers: tuple[Tier, ...]
    macro_scale: dict[str, float]
    penalty_multiplier: float
    affordability_power: float
    grace: GraceResponse
    payments: PaymentBehaviour
    relief: ReliefMemory
    collections: CollectionsResponse
    recovery: RecoveryModel
    provisions: ProvisionRules

    @property
    def segment_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.segments)

    @property
    def tier_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tiers)

    @property
    def macro_variables(self) -> tuple[str, ...]:
        return tuple(self.macro_scale)

    def tier_of(self, scores: np.ndarray) -> np.ndarray:
        """Tier code of each score: the first tier (best first) whose ``min_score`` it reaches.

        Scores below the lowest cut-off get -1; the tape loader reports them.
        """
        cutoffs = np.array([t.min_score for t in self.tiers][::-1])  # ascending
        above = np.searchsorted(cutoffs, np.asarray(scores), side="right")  # tiers reached
        return np.where(above == 0, -1, len(self.tiers) - above).astype(np.int8)


def load_model(name_or_path: str | Path = "default") -> Model:
    """Load and validate a model file: a shipped name (``default``) or a path."""
    path = resolve("model", name_or_path)
    data, text = read_toml(path)
    doc = root(data, path).table(
        [
            "description",
            "penalty_multiplier",
            "affordability_power",
            "macro_scale",
            "tiers",
            "segments",
            "grace",
            "payments",
            "relief",
            "collections",
            "recovery",
            "provisions",
        ]
    )
    macro_scale = {k: v.number(0, lo_open=True) for k, v in doc["macro_scale"].table().items()}
    segments = tuple(
        _segment(name, node, macro_scale) for name, node in doc["segments"].table().items()
    )
    if not segments:
        raise doc["segments"].fail("at least one segment is required")
    if "cure_per_day" in doc["grace"]:
        raise doc["grace"]["cure_per_day"].fail(
            "grace no longer cures a missed debit: the days to pay of a Day-1 miss are "
            "[payments] pay_per_day (and quick_share), see SPEC 11"
        )
    grace = doc["grace"].table(["moral_hazard_per_day"])
    collections = doc["collections"].table(["cure_elasticity", "backlash"])
    recovery = doc["recovery"].table(
        ["monthly_hazard", "fraction_alpha", "fraction_beta", "agency_fee", "window_months"]
    )
    return Model(
        name=path.stem,
        description=doc["description"].string() if "description" in doc else "",
        source=str(path),
        text=text,
        segments=segments,
        tiers=_tiers(doc["tiers"]),
        macro_scale=macro_scale,
        penalty_multiplier=doc["penalty_multiplier"].number(1.0, 5.0),
        affordability_power=doc["affordability_power"].number(0.0, 5.0),
        grace=GraceResponse(moral_hazard_per_day=grace["moral_hazard_per_day"].number(0.0, 1.0)),
        payments=_payments(doc["payments"]),
        relief=_relief(doc["relief"]),
        collections=CollectionsResponse(
            cure_elasticity=collections["cure_elasticity"].number(0.0, 5.0),
            backlash=collections["backlash"].number(0.0, 5.0),
        ),
        recovery=RecoveryModel(
            monthly_hazard=recovery["monthly_hazard"].probability(),
            fraction_alpha=recovery["fraction_alpha"].number(0, lo_open=True),
            fraction_beta=recovery["fraction_beta"].number(0, lo_open=True),
            agency_fee=recovery["agency_fee"].number(0.0, 1.0, hi_open=True),
            window_months=recovery["window_months"].integer(0, 600),
        ),
        provisions=provision_rules(doc.get("provisions")),
    )


def _payments(node: Node) -> PaymentBehaviour:
    node.table(["quick_share", "pay_per_day"])
    return PaymentBehaviour(
        quick_share=node["quick_share"].number(0.0, 1.0, hi_open=True),
        pay_per_day=node["pay_per_day"].number(0.0, 1.0, lo_open=True),
    )


def _relief(node: Node) -> ReliefMemory:
    node.table(["peak", "decay", "tape_from"])
    peak = node["peak"].table(list(ACTIVE_STATES))
    missing = [state for state in ACTIVE_STATES if state not in peak]
    if missing:
        raise peak.fail(f"needs a multiplier for every state; missing {', '.join(missing)}")
    return ReliefMemory(
        peak=np.array([peak[state].number(0.0, 100.0) for state in ACTIVE_STATES]),
        decay=node["decay"].number(0.0, 1.0),
        tape_from=ACTIVE_STATES.index(node["tape_from"].string(ACTIVE_STATES)),
    )


def _tiers(node: Node) -> tuple[Tier, ...]:
    tiers = []
    for item in node.array(min_length=1):
        item.table(["name", "min_score", "delta"])
        tiers.append(
            Tier(
                name=item["name"].string(),
                min_score=item["min_score"].integer(0),
                delta=item["delta"].number(-5.0, 5.0),
            )
        )
    names = [t.name for t in tiers]
    if len(set(names)) != len(names):
        raise node.fail("tier names must be unique")
    cutoffs = [t.min_score for t in tiers]
    if any(a <= b for a, b in itertools.pairwise(cutoffs)):
        raise node.fail(f"min_score must strictly decrease from the best tier, got {cutoffs}")
    return tuple(tiers)


def _segment(name: str, node: Node, macro_scale: dict[str, float]) -> Segment:
    node.table(["rho", "prepayment", "beta", "normal", "restructured"])
    beta = {}
    for variable, coefficient in node["beta"].table().items():
        if variable not in macro_scale:
            raise coefficient.fail(
                f"no scale for macro variable '{variable}': add it to [macro_scale] "
                f"(known: {', '.join(macro_scale) or 'none'})"
            )
        beta[variable] = coefficient.number(-100.0, 100.0)
    return Segment(
        name=name,
        rho=node["rho"].number(0.0, 1.0, hi_open=True),
        prepayment=node["prepayment"].number(0.0, 1.0, hi_open=True),
        beta=beta,
        normal=transition_matrix(node["normal"]),
        restructured=transition_matrix(node["restructured"]),
    )


def transition_matrix(node: Node) -> np.ndarray:
    """A table of rows keyed by active state, each a probability row over DESTINATIONS.

    A loan in bucket Mk can only cure (to current or a lower bucket), stay, or roll one bucket
    (from M6: charge off); from current it pays or misses into M1. Entries beyond one bucket of
    roll must be zero.
    """
    node.table(list(ACTIVE_STATES))
    matrix = np.zeros((len(ACTIVE_STATES), len(DESTINATIONS)))
    for k, state in enumerate(ACTIVE_STATES):
        row_node = node[state]
        row = np.array([x.probability() for x in row_node.array(length=len(DESTINATIONS))])
        total = row.sum()
        if abs(total - 1.0) > ROW_TOLERANCE:
            raise row_node.fail(f"row sums to {total:.12g}, expected 1 (within {ROW_TOLERANCE:g})")
        if row[k + 2 :].any():
            raise row_node.fail(
                f"a loan in {state} can move at most one bucket worse (to "
                f"{DESTINATIONS[k + 1]}); entries after it must be 0"
            )
        matrix[k] = row
    return matrix


def check_macro_variables(model: Model, variables: set[str], source: str) -> None:
    """Every macro variable the model's betas use must be in the scenario."""
    needed = {v for s in model.segments for v in s.beta}
    missing = sorted(needed - variables)
    if missing:
        raise InputError(
            source,
            f"macro variable(s) {', '.join(missing)} are used by model '{model.name}' "
            "but missing from the scenario",
        )
