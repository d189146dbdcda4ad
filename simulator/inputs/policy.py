"""The policy file (SPEC 3.4): one post-loan policy as a set of optional levers.

A lever that is absent is off. ``standard`` is collections at baseline intensity and nothing
else. Per-tier and per-segment settings are tables keyed by the model's tier and segment names;
:func:`check_policy_against_model` checks those names once the model is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.errors import InputError
from simulator.inputs._toml import Node, root
from simulator.inputs.files import read_toml, resolve
from simulator.inputs.model import Model
from simulator.states import BUCKETS

OFFERS = ("holiday", "reinstalment")
BEHAVIOURS = ("restructured", "bucket")
"""What a re-instalmented loan behaves as (see :class:`Reinstalment`)."""
CHANNELS = ("direct", "mediation")


@dataclass(frozen=True)
class Collections:
    intensity: float = 1.0
    """1.0 is the model's baseline; above it cures rise, costs rise and borrowers may push back."""
    cost_per_account: float = 0.0
    """CNY per delinquent account per month at intensity 1 (scales linearly with intensity)."""
    contact_cost: float = 0.0
    """CNY per early contact: a Day-1 miss paid within the month but after the grace days."""


@dataclass(frozen=True)
class Grace:
    days: dict[str, int]
    """Grace days per tier name (0-3); tiers not listed get none."""


@dataclass(frozen=True)
class Reinstalment:
    eligible: tuple[str, ...]
    application: dict[str, float]
    """Monthly probability that an eligible borrower of the segment applies."""
    approval: dict[str, float]
    """Probability that an application is approved (repayment ability), by tier."""
    approval_macro_sensitivity: float
    """Approval probability + sensitivity * Z (clipped to [0, 1]): ability falls in bad times."""
    term: int
    rate_multiplier: float
    max_per_loan: int
    waive_penalty: bool
    behaviour: str = "restructured"
    """``restructured``: back to current on the restructured matrix, with the memory of the bucket
    and the affordability of the new instalment. ``bucket``: the mechanism off (SPEC 11's
    neutrality) - state, schedule, rate and matrix kept, no memory; only the accounting of a
    restructuring applies (penalty waived, interest capitalised, restructured and on probation)."""


@dataclass(frozen=True)
class Holiday:
    eligible: tuple[str, ...]
    months: int
    take_up: float
    max_per_loan: int


@dataclass(frozen=True)
class Settlement:
    min_bucket: str
    haircut: float
    acceptance: float
    channel: str
    mediation_fee: float
    """Share of the settlement cash paid to the third-party mediator (mediation channel)."""


@dataclass(frozen=True)
class Legal:
    share: float
    min_balance: float
    filing_cost: float
    lag_months: int
    success: float
    recovered_fraction: float


@dataclass(frozen=True)
class EarlyWarning:
    trigger: float
    """Offers are made while the path's credit-cycle index Z is below this."""
    tiers: tuple[str, ...]
    offer: str
    take_up: float


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    source: str
    text: str
    collections: Collections = field(default_factory=Collections)
    grace: Grace | None = None
    reinstalment: Reinstalment | None = None
    holiday: Holiday | None = None
    settlement: Settlement | None = None
    legal: Legal | None = None
    early_warning: EarlyWarning | None = None


def load_policy(name_or_path: str | Path) -> Policy:
    """Load and validate a policy file: a shipped name (``standard``) or a path."""
    path = resolve("policy", name_or_path)
    data, text = read_toml(path)
    doc = root(data, path).table(
        [
            "description",
            "collections",
            "grace",
            "reinstalment",
            "holiday",
            "settlement",
            "legal",
            "early_warning",
        ]
    )
    levers = {
        "collections": _collections,
        "grace": _grace,
        "reinstalment": _reinstalment,
        "holiday": _holiday,
        "settlement": _settlement,
        "legal": _legal,
        "early_warning": _early_warning,
    }
    parsed: dict[str, Any] = {key: read(doc[key]) for key, read in levers.items() if key in doc}
    policy = Policy(
        name=path.stem,
        description=doc["description"].string() if "description" in doc else "",
        source=str(path),
        text=text,
        **parsed,
    )
    ew = policy.early_warning
    if ew is not None and getattr(policy, ew.offer) is None:
        raise doc["early_warning"]["offer"].fail(
            f"offers '{ew.offer}', so the policy needs a [{ew.offer}] table for its terms"
        )
    return policy


def _collections(node: Node) -> Collections:
    node.table(["intensity", "cost_per_account", "contact_cost"])
    return Collections(
        intensity=node["intensity"].number(0.0, 5.0),
        cost_per_account=node["cost_per_account"].number(0.0),
        contact_cost=node["contact_cost"].number(0.0) if "contact_cost" in node else 0.0,
    )


def _grace(node: Node) -> Grace:
    node.table(["days"])
    return Grace(days={k: v.integer(0, 3) for k, v in node["days"].table().items()})


def _reinstalment(node: Node) -> Reinstalment:
    node.table(
        [
            "eligible",
            "application",
            "approval",
            "approval_macro_sensitivity",
            "term",
            "rate_multiplier",
            "max_per_loan",
            "waive_penalty",
            "behaviour",
        ]
    )
    sensitivity = node.get("approval_macro_sensitivity")
    behaviour = node.get("behaviour")
    return Reinstalment(
        eligible=node["eligible"].strings(BUCKETS),
        application={k: v.probability() for k, v in node["application"].table().items()},
        approval={k: v.probability() for k, v in node["approval"].table().items()},
        approval_macro_sensitivity=0.0 if sensitivity is None else sensitivity.number(0.0, 1.0),
        term=node["term"].integer(1, 60),
        rate_multiplier=node["rate_multiplier"].number(0.0, 2.0),
        max_per_loan=node["max_per_loan"].integer(1, 10),
        waive_penalty=node["waive_penalty"].boolean(),
        behaviour="restructured" if behaviour is None else behaviour.string(BEHAVIOURS),
    )


def _holiday(node: Node) -> Holiday:
    node.table(["eligible", "months", "take_up", "max_per_loan"])
    return Holiday(
        eligible=node["eligible"].strings(BUCKETS),
        months=node["months"].integer(0, 12),  # 0: the holiday is off
        take_up=node["take_up"].probability(),
        max_per_loan=node["max_per_loan"].integer(1, 10),
    )


def _settlement(node: Node) -> Settlement:
    node.table(["min_bucket", "haircut", "acceptance", "channel", "mediation_fee"])
    channel = node["channel"].string(CHANNELS)
    fee = node.get("mediation_fee")
    if channel == "direct" and fee is not None and fee.value != 0:
        raise fee.fail("a direct settlement has no mediator: remove mediation_fee or set 0")
    return Settlement(
        min_bucket=node["min_bucket"].string(BUCKETS),
        haircut=node["haircut"].number(0.0, 1.0, hi_open=True),
        acceptance=node["acceptance"].probability(),
        channel=channel,
        mediation_fee=(
            node["mediation_fee"].number(0.0, 1.0, hi_open=True) if channel == "mediation" else 0.0
        ),
    )


def _legal(node: Node) -> Legal:
    node.table(
        ["share", "min_balance", "filing_cost", "lag_months", "success", "recovered_fraction"]
    )
    return Legal(
        share=node["share"].probability(),
        min_balance=node["min_balance"].number(0.0),
        filing_cost=node["filing_cost"].number(0.0),
        lag_months=node["lag_months"].integer(0, 120),
        success=node["success"].probability(),
        recovered_fraction=node["recovered_fraction"].probability(),
    )


def _early_warning(node: Node) -> EarlyWarning:
    node.table(["trigger", "tiers", "offer", "take_up"])
    return EarlyWarning(
        trigger=node["trigger"].number(-10.0, 10.0),
        tiers=node["tiers"].strings(),
        offer=node["offer"].string(OFFERS),
        take_up=node["take_up"].probability(),
    )


def check_policy_against_model(policy: Policy, model: Model) -> None:
    """The tier and segment names a policy uses must exist in the model."""

    def check(names: object, known: tuple[str, ...], where: str, what: str) -> None:
        unknown = sorted(set(names) - set(known))  # type: ignore[call-overload]
        if unknown:
            raise InputError(
                policy.source,
                f"{where}: unknown {what} {', '.join(unknown)}; model '{model.name}' has: "
                f"{', '.join(known)}",
            )

    if policy.grace:
        check(policy.grace.days, model.tier_names, "grace.days", "tier")
    if policy.reinstalment:
        check(
            policy.reinstalment.application,
            model.segment_names,
            "reinstalment.application",
            "segment",
        )
        check(policy.reinstalment.approval, model.tier_names, "reinstalment.approval", "tier")
    if policy.early_warning:
        check(policy.early_warning.tiers, model.tier_names, "early_warning.tiers", "tier")
