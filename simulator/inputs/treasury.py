"""The treasury file (SPEC 3.5): buffer, funding, new lending and operating cost.

Amounts are either CNY (``basis = "absolute"``) or shares of the book's opening principal
(``basis = "book"``), so that one file fits a synthetic book of any size. Sensitivities to the
macro index are linear in the book-weighted credit-cycle index Z and clipped to [floor, 1]:
in bad times (Z < 0) lenders roll over less funding and the platform lends less.

New lending (``[new_lending]``) has two modes: ``mode = "plan"`` (the default) lends the
``plan``'s amounts; ``mode = "replace"`` lends each month what the book is expected to run off
(repayments, prepayments, charge-offs), so that the book stays about its opening size - the
static-balance-sheet convention of regulatory stress tests (EBA) with new business replacing
what matures. Both are scaled by the ``throttle`` (:mod:`simulator.engine.cohorts`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from simulator.inputs._toml import Node, root
from simulator.inputs.accounting import CapitalRules, capital_rules
from simulator.inputs.files import read_toml, resolve
from simulator.inputs.scenario import MAX_HORIZON

BASES = ("book", "absolute")
LENDING_MODES = ("plan", "replace")


@dataclass(frozen=True)
class MacroResponse:
    """``clip(base + sensitivity * Z, floor, 1)``; a base above 1 keeps the response at 1 until
    Z falls below ``(1 - base) / sensitivity``."""

    base: float
    sensitivity: float
    floor: float


@dataclass(frozen=True)
class Tranche:
    name: str
    amount: float
    maturity_month: int
    rate: float
    """Annual rate before the scenario's funding spread."""
    rollover: MacroResponse
    """Fraction of the tranche refinanced at maturity."""


@dataclass(frozen=True)
class Treasury:
    name: str
    description: str
    source: str
    text: str
    basis: str
    initial_buffer: float
    operating_cost_per_account: float
    """CNY per active account per month."""
    tranches: tuple[Tranche, ...]
    lending_plan: tuple[tuple[int, float], ...]
    """New lending per month as (month, amount) anchor points, interpolated like macro paths
    (mode ``plan``; empty in mode ``replace``)."""
    lending_throttle: MacroResponse
    capital: CapitalRules
    lending_mode: str = "plan"
    """``plan``: lend the plan; ``replace``: lend the book's expected run-off each month."""


def load_treasury(name_or_path: str | Path = "default") -> Treasury:
    """Load and validate a treasury file: a shipped name (``default``) or a path."""
    path = resolve("treasury", name_or_path)
    data, text = read_toml(path)
    doc = root(data, path).table(
        [
            "description",
            "basis",
            "initial_buffer",
            "operating_cost_per_account",
            "funding",
            "new_lending",
            "capital",
        ]
    )
    lending = doc["new_lending"].table(["mode", "plan", "throttle"])
    mode = lending["mode"].string(LENDING_MODES) if "mode" in lending else "plan"
    if mode == "plan" and "plan" not in lending:
        raise lending.fail('mode "plan" needs a plan: [[month, amount], ...]')
    if mode == "replace" and "plan" in lending:
        raise lending["plan"].fail('mode "replace" lends what runs off: leave the plan out')
    return Treasury(
        name=path.stem,
        description=doc["description"].string() if "description" in doc else "",
        source=str(path),
        text=text,
        basis=doc["basis"].string(BASES),
        initial_buffer=doc["initial_buffer"].number(0.0),
        operating_cost_per_account=doc["operating_cost_per_account"].number(0.0),
        tranches=tuple(_tranche(item) for item in doc["funding"].array()),
        lending_plan=_plan(lending["plan"]) if mode == "plan" else (),
        lending_throttle=_response(lending["throttle"]),
        capital=capital_rules(doc.get("capital")),
        lending_mode=mode,
    )


def _tranche(node: Node) -> Tranche:
    node.table(["name", "amount", "maturity_month", "rate", "rollover"])
    return Tranche(
        name=node["name"].string(),
        amount=node["amount"].number(0.0),
        maturity_month=node["maturity_month"].integer(1, MAX_HORIZON),
        rate=node["rate"].number(0.0, 1.0),
        rollover=_response(node["rollover"]),
    )


def _response(node: Node) -> MacroResponse:
    node.table(["base", "sensitivity", "floor"])
    return MacroResponse(
        base=node["base"].number(0.0, 2.0),
        sensitivity=node["sensitivity"].number(-5.0, 5.0),
        floor=node["floor"].number(0.0, 1.0),
    )


def _plan(node: Node) -> tuple[tuple[int, float], ...]:
    points = []
    for item in node.array(min_length=1):
        pair = item.array(length=2)
        points.append((pair[0].integer(1, MAX_HORIZON), pair[1].number(0.0)))
    months = [m for m, _ in points]
    if any(a >= b for a, b in itertools.pairwise(months)):
        raise node.fail(f"months must strictly increase, got {months}")
    return tuple(points)
