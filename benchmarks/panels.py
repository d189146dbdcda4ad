"""Loan-month panels of known parameters: a small NumPy simulator of the model, independent of
the engine (a check on it, and the data of the calibration tests and benchmark).

It follows SPEC 4 for the standard policy without reading any engine code: each month a loan
accrues interest (times the penalty multiplier when delinquent), one instalment falls due while
the term lasts, a current loan may prepay, then it draws its destination from its row shifted by
its tier's ``delta`` and by ``Z`` with the probit shift over destinations ordered worst first;
cures pay the arrears and the instalment due, a stay pays the instalment due (after maturity an
unpaid debt ages instead), a roll pays nothing, a roll out of 151-180 DPD is a charge-off of
principal and interest; charged-off loans recover once with a monthly hazard, a Beta fraction of
the written-off balance, within the recovery window. ``Z = macro + sigma * eta`` with ``eta``
AR(1), stationary N(0, 1). Loans that close are replaced by new current loans (so the book stays
the same size), whose first row is the month they are originated.

Randomness is NumPy's PCG64, not the engine's Philox: the panels agree with the engine in
distribution, not draw by draw.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from scipy import special

from simulator.inputs.model import Model
from simulator.inputs.panel import month_strings
from simulator.states import CHARGED_OFF, CURRENT, M6, PAID_OFF, STATES

WORST_FIRST = np.arange(CHARGED_OFF, -1, -1)


@dataclass(frozen=True)
class PanelSpec:
    """What to simulate. ``macro`` is the deterministic part of Z by month 1..months and
    segment (zeros if None); ``start`` the month index of month 0 (the opening snapshot)."""

    loans: int = 2000
    months: int = 24
    seed: int = 0
    phi: float = 0.8
    sigma: float = 1.0
    macro: np.ndarray | None = None
    start: int = 2020 * 12
    restructured_share: float = 0.1
    delinquent_share: float = 0.1
    terms: tuple[int, ...] = (12, 24, 36)
    new_loans: bool = True
    segment_shares: tuple[float, ...] | None = None
    eta: np.ndarray | None = field(default=None, repr=False)  # to replay a given factor path


@dataclass(frozen=True)
class SimulatedPanel:
    table: pa.Table
    z: np.ndarray  # (months, segments): Z of months 1..months
    eta: np.ndarray  # (months,)


def factor_path(rng: np.random.Generator, months: int, phi: float) -> np.ndarray:
    eta = np.empty(months)
    eta[0] = rng.standard_normal()
    for t in range(1, months):
        eta[t] = phi * eta[t - 1] + np.sqrt(1 - phi**2) * rng.standard_normal()
    return eta


def tails(model: Model, z: np.ndarray) -> np.ndarray:
    """Shifted upper-tail probabilities P(destination >= d), d = 0..7, for one month:
    shape (G, T, 2, 7, 8) over (segment, tier, restructured, state, d)."""
    base = np.stack([np.stack([s.normal, s.restructured]) for s in model.segments])  # G,2,7,8
    cum = np.clip(np.cumsum(base[..., WORST_FIRST], axis=-1), 0, 1)[..., ::-1]  # tail by d
    delta = np.array([t.delta for t in model.tiers])
    rho = np.array([s.rho for s in model.segments])[:, None, None, None, None]
    with np.errstate(divide="ignore"):
        probit = special.ndtri(cum)[:, None] + delta[None, :, None, None, None]
    shifted = special.ndtr(
        (probit - np.sqrt(rho) * z[:, None, None, None, None]) / np.sqrt(1 - rho)
    )
    shifted[..., 0] = 1.0
    return shifted


def simulate_panel(model: Model, spec: PanelSpec) -> SimulatedPanel:
    """A panel of ``spec.loans`` loans over months 0..``spec.months`` (see the module)."""
    rng = np.random.default_rng(spec.seed)
    G = len(model.segments)
    eta = factor_path(rng, spec.months, spec.phi) if spec.eta is None else spec.eta
    macro = np.zeros((spec.months, G)) if spec.macro is None else spec.macro
    z = macro + spec.sigma * eta[:, None]
    book = _Book(model, spec, rng)
    rows = [book.snapshot(0)]
    for t in range(1, spec.months + 1):
        book.month(tails(model, z[t - 1]), t)
        rows.append(book.snapshot(t))
        if spec.new_loans:
            book.replace_closed(t)
            rows.append(book.snapshot(t, only_new=True))
    columns: dict[str, object] = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    months = np.asarray(columns.pop("month_index")) + spec.start
    columns["month"] = month_strings(months)
    columns["dpd"] = pa.DictionaryArray.from_arrays(
        np.asarray(columns.pop("state_code"), dtype=np.int8), pa.array(STATES)
    )
    columns["segment"] = pa.DictionaryArray.from_arrays(
        np.asarray(columns["segment"], dtype=np.int8), pa.array(model.segment_names)
    )
    order = [
        "loan_id",
        "month",
        "segment",
        "score",
        "dpd",
        "principal",
        "restructured",
        "recovery",
        "annual_rate",
        "remaining_term",
        "instalment",
    ]
    table = pa.table({k: columns[k] for k in order})
    return SimulatedPanel(table=table, z=z, eta=eta)


class _Book:
    """The loans' state, one array per variable; closed loans stay in the arrays, flagged."""

    def __init__(self, model: Model, spec: PanelSpec, rng: np.random.Generator) -> None:
        self.model, self.spec, self.rng = model, spec, rng
        self.G = len(model.segments)
        self.rows_on = np.zeros(0, dtype=bool)  # still producing rows
        self.fields: dict[str, np.ndarray] = {}
        self.next_id = 0
        self.born = np.zeros(0, dtype=np.int64)
        self.closing = np.zeros(0, dtype=bool)
        self._add(spec.loans, opening=True, month=0)

    # --- loans --------------------------------------------------------------------------
    def _add(self, n: int, opening: bool, month: int) -> None:
        rng, spec, model = self.rng, self.spec, self.model
        shares = (
            np.ones(self.G) / self.G
            if spec.segment_shares is None
            else np.array(spec.segment_shares)
        )
        cutoffs = [t.min_score for t in model.tiers]
        score = rng.integers(cutoffs[-1], cutoffs[0] + 100, size=n)
        term = rng.choice(spec.terms, size=n)
        remaining = rng.integers(1, term + 1) if opening else term
        principal = np.round(rng.lognormal(np.log(20000), 0.6, size=n), 2)
        rate = rng.choice([0.073, 0.12, 0.1825], size=n)
        r = rate / 12
        instalment = np.round(principal * r / (1 - (1 + r) ** -remaining), 2)
        state = np.zeros(n, dtype=np.int64)
        restructured = np.zeros(n, dtype=np.int64)
        if opening:
            late = rng.random(n) < spec.delinquent_share
            state[late] = rng.integers(1, M6 + 1, size=int(late.sum()))
            restructured[rng.random(n) < spec.restructured_share] = 1
        new = {
            "loan_id": np.arange(self.next_id, self.next_id + n),
            "segment": rng.choice(self.G, size=n, p=shares / shares.sum()),
            "score": score,
            "state": state,
            "principal": principal,
            "accrued": np.zeros(n),
            "rate": rate,
            "term": remaining.astype(np.int64),
            "instalment": instalment,
            "restructured": restructured,
            "months_co": np.zeros(n, dtype=np.int64),
            "recovery": np.zeros(n),
        }
        self.next_id += n
        for k, v in new.items():
            self.fields[k] = np.concatenate([self.fields[k], v]) if k in self.fields else v
        self.rows_on = np.concatenate([self.rows_on, np.ones(n, dtype=bool)])
        self.born = np.concatenate([self.born, np.full(n, month)])
        self.closing = np.concatenate([self.closing, np.zeros(n, dtype=bool)])

    def replace_closed(self, month: int) -> None:
        f = self.fields
        on_book = self.rows_on & (f["state"] <= M6)
        missing = self.spec.loans - int(on_book.sum())
        if missing > 0:
            self._add(missing, opening=False, month=month)

    def snapshot(self, month: int, only_new: bool = False) -> dict[str, np.ndarray]:
        f = self.fields
        show = self.rows_on & (
            (self.born == month) if only_new else (self.born < month) | (month == 0)
        )
        i = np.flatnonzero(show)
        out = {
            "loan_id": f["loan_id"][i],
            "month_index": np.full(len(i), month),
            "segment": f["segment"][i],
            "score": f["score"][i],
            "state_code": f["state"][i],
            "principal": np.round(f["principal"][i], 2),
            "restructured": f["restructured"][i],
            "recovery": np.round(f["recovery"][i], 2),
            "annual_rate": f["rate"][i],
            "remaining_term": f["term"][i],
            "instalment": f["instalment"][i],
        }
        # Closed loans show once (the month they closed), then stop; so do recovered ones.
        if not only_new:
            self.rows_on &= ~(show & (f["state"] >= PAID_OFF)) & ~self.closing
        return out

    # --- one month ------------------------------------------------------------------------
    def month(self, tail: np.ndarray, t: int) -> None:
        f, rng, model = self.fields, self.rng, self.model
        n = len(f["state"])
        f["recovery"] = np.zeros(n)
        u0, u1, u2 = rng.random(n), rng.random(n), rng.random(n)
        self._recover(u0, u2)
        active = self.rows_on & (f["state"] <= M6) & (self.born < t)
        state = f["state"]
        rate = f["rate"] / 12
        delinquent = active & (state > CURRENT)
        interest = np.round(
            f["principal"] * rate * np.where(delinquent, model.penalty_multiplier, 1), 2
        )
        f["accrued"] = np.where(active, f["accrued"] + interest, f["accrued"])
        due = active & (f["term"] > 0)
        f["term"] = f["term"] - due
        prepay = np.array([s.prepayment for s in model.segments])[f["segment"]]
        prepaid = active & (state == CURRENT) & (u0 < prepay)
        moving = active & ~prepaid
        tier = model.tier_of(f["score"])
        matrix = (f["restructured"] > 0).astype(np.int64)
        row = tail[f["segment"], tier, matrix, np.minimum(state, M6)]  # (n, 8)
        destination = (u1[:, None] < row[:, 1:]).sum(axis=1)
        paid = np.zeros(n, dtype=np.int64)
        new_state = state.copy()
        from_current = moving & (state == CURRENT)
        missed = from_current & (destination >= 1)
        paid[from_current & ~missed] = 1
        new_state[missed] = 1
        arrears = moving & (state > CURRENT)
        cures = arrears & (destination < state)
        paid[cures] = state[cures] - destination[cures] + due[cures]
        new_state[cures] = destination[cures]
        stays = arrears & (destination == state) & due
        paid[stays] = 1
        rolls = arrears & ~cures & ~stays
        new_state[rolls] = state[rolls] + 1
        self._pay(paid, new_state)
        charged = moving & (new_state == CHARGED_OFF)
        f["principal"] = np.where(charged, f["principal"] + f["accrued"], f["principal"])
        f["accrued"] = np.where(charged, 0.0, f["accrued"])
        closed = (
            moving & (new_state == CURRENT) & (f["principal"] <= 0.005) & (f["accrued"] <= 0.005)
        )
        new_state[closed | prepaid] = PAID_OFF
        f["principal"] = np.where(prepaid, 0.0, f["principal"])
        f["state"] = new_state

    def _pay(self, paid: np.ndarray, new_state: np.ndarray) -> None:
        f = self.fields
        owed = f["principal"] + f["accrued"]
        last = (paid > 0) & (new_state == CURRENT) & (f["term"] == 0)
        amount = np.where(last, owed, np.minimum(paid * f["instalment"], owed))
        interest = np.minimum(amount, f["accrued"])
        f["accrued"] = f["accrued"] - interest
        f["principal"] = np.maximum(np.round(f["principal"] - (amount - interest), 2), 0.0)

    def _recover(self, u0: np.ndarray, u2: np.ndarray) -> None:
        f, recovery = self.fields, self.model.recovery
        in_recovery = self.rows_on & (f["state"] == CHARGED_OFF)
        f["months_co"] = np.where(in_recovery, f["months_co"] + 1, f["months_co"])
        over = in_recovery & (f["months_co"] > recovery.window_months)
        self.rows_on &= ~over
        worked = in_recovery & ~over
        event = worked & (u0 < recovery.monthly_hazard)
        fraction = special.betaincinv(recovery.fraction_alpha, recovery.fraction_beta, u2)
        f["recovery"] = np.where(event, np.round(f["principal"] * fraction, 2), 0.0)
        self.closing = event  # the loan shows its recovery this month, then leaves
