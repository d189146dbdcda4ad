"""Expected credit loss tables (SPEC 10, IFRS 9 5.5): the engine's own chain, taken in expectation.

The kernel looks up, once per live borrower-month, the ECL per unit of principal of a loan in
(segment g, tier k, matrix m, state s, remaining term n) at the end of month t, on its path, given
the path's systematic factor ``eta_t``. This module builds those numbers, once per scenario and
policy, by backward induction over the same model the engine simulates:

* **the factor** is discretised on a grid of ``FACTOR_POINTS`` values over +-``FACTOR_RANGE``
  standard deviations with Tauchen's (1986) transition matrix for the AR(1) ``eta' = phi eta +
  sqrt(1 - phi^2) e``, so the expectation is over the factor's future given its current value
  and over the scenario's macro path ahead (IFRS 9 5.5.17(a), probability-weighted: not the
  loss at the mean path, which understates a convex loss). Beyond the scenario's last anchor the
  macro path is flat, as in the engine;
* **a month** is the kernel's order of events with its own probabilities: the policy's offers
  (settlement, re-instalment, payment holiday, early warning) with their take-up, acceptance and
  approval at that month's Z; prepayment; the transition row shifted by the tier's delta and by
  Z (collections intensity and the grace moral hazard already folded into the rows, as in
  ``engine.tables``; grace days change what is recorded of a Day-1 miss, not the month end);
* **exposure** is the principal (interest is income when collected in this engine's accounts,
  so accrued interest is not an asset the allowance covers). Paying ``j`` of ``q`` outstanding
  instalments leaves ``((1+r)^q - (1+r)^j) / ((1+r)^q - 1)`` of the principal (an annuity), and
  a loan that ends current with nothing left to fall due is paid off;
* **loss** is what ``net_credit_loss`` counts: the principal charged off out of 151-180 DPD less
  the present value of its recoveries - the agency channel (monthly hazard within the window,
  mean recovered fraction, fee) and the policy's legal channel (share, success, fraction, lag)
  on the charged-off principal plus accrued interest - and settlement haircuts;
* **discounting** is at the loan's contract rate (IFRS 9 B5.5.44, the effective interest rate):
  the tables hold the value at a reference rate per segment and tier (the book's mean) and its
  derivative in the rate, and the kernel adds ``(r - r_ref) * dV/dr``; the second-order error is
  within 0.2% with the reference 5.5 points of APR away, far less within a tier (tested);
* **12-month ECL** (stage 1) counts the losses of default events - entering stage 3 - within
  the next 12 months (IFRS 9 5.5.5, B5.5.43), with the same recursion over a 12-month window;
  stages 2 and 3 get the lifetime ECL.

Approximations, measured by the unbiasedness test (``tests/test_provisions.py``): accrued
interest at settlement, re-instalment and charge-off is taken as the interest of the months a
loan of that bucket has missed (``r (1 + (k - 1) penalty)`` in bucket k); payments of
delinquent loans amortise as an annuity (penalty interest paid first is ignored); the chain
does not count holidays and restructurings already taken against their caps (a cap of one
re-instalment is exact, since restructured loans are on the restructured matrix); a
re-instalmented loan's affordability factor is taken as 1 (conservative for instalments that
fall); a re-instalment with behaviour ``bucket`` is valued as none (its capitalisation
ignored); a loan on a holiday is valued as if the holiday were over; remaining terms above
``MAX_TERM`` are valued as ``MAX_TERM``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from simulator.engine.arrays import Book, Levers
from simulator.engine.cohorts import QUARTER
from simulator.engine.tables import base_probits, beta_quantiles, macro_path_index
from simulator.inputs.accounting import ProvisionRules
from simulator.inputs.model import Model
from simulator.inputs.policy import Policy
from simulator.inputs.scenario import Scenario
from simulator.provisions.tables import ProvisionTables
from simulator.states import ACTIVE_STATES, CHARGED_OFF, M1, M6

FACTOR_POINTS = 33
"""Grid points of the factor: linear interpolation between them biases a convex ECL by about
h^2/12 times its curvature (h = 0.25: well below 0.5%)."""
FACTOR_RANGE = 4.0
RATE_STEP = 1e-4
"""Step in the monthly rate for the derivative dV/dr (forward difference)."""
MAX_TERM = 60
TWELVE_MONTHS = 12
TAIL_MONTHS = 12
"""Months the chain runs past the last scheduled instalment and six buckets of ageing."""
VALUE, SLOPE = 0, 1
N_STATES = len(ACTIVE_STATES)


@dataclass(frozen=True)
class FactorGrid:
    points: np.ndarray  # (E,)
    transition: np.ndarray  # (E, E): P[e, e'] = P(eta_{t+1} in bin e' | eta_t = points[e])
    stationary: np.ndarray  # (E,)

    @property
    def step(self) -> float:
        return float(self.points[1] - self.points[0])


def factor_grid(phi: float, points: int = FACTOR_POINTS, width: float = FACTOR_RANGE) -> FactorGrid:
    """Tauchen's discretisation of the AR(1) factor (stationary N(0, 1))."""
    grid = np.linspace(-width, width, points)
    edges = (grid[1:] + grid[:-1]) / 2
    scale = np.sqrt(max(1.0 - phi**2, 1e-12))
    cdf = special.ndtr((edges[None, :] - phi * grid[:, None]) / scale)
    cdf = np.concatenate([np.zeros((points, 1)), cdf, np.ones((points, 1))], axis=1)
    transition = np.diff(cdf, axis=1)
    values, vectors = np.linalg.eig(transition.T)
    stationary = np.abs(np.real(vectors[:, np.argmin(np.abs(values - 1.0))]))
    return FactorGrid(grid, transition, stationary / stationary.sum())


@dataclass(frozen=True)
class EclTables:
    """ECL per unit of principal, for the end of months 0..H, and what the kernel needs to read it.

    ``lifetime[t, g, k, m, s, n, l, e, :]`` holds (value at the reference rate, its slope in the
    monthly rate) for a loan at the end of month t with factor at grid point e; ``twelve_month``
    the same for the states below stage 3 (stage 1 reads it). ``l`` is 1 when the loan's
    principal reaches the legal channel's minimum balance (when the policy has one).
    """

    lifetime: np.ndarray  # (H + 1, G, K, M, S, N, L, E, 2) float64
    twelve_month: np.ndarray  # (H + 1, G, K, M, S3, N, L, E, 2)
    reference_rate: np.ndarray  # (G, K) monthly rate the values are taken at
    grid: FactorGrid
    legal_min_balance: int  # fen; L = 2 when > 0

    @property
    def max_term(self) -> int:
        return self.lifetime.shape[5] - 1


def reference_rates(
    segment: np.ndarray,
    tier: np.ndarray,
    monthly_rate: np.ndarray,
    principal: np.ndarray,
    shape: tuple[int, int],
) -> np.ndarray:
    """Principal-weighted mean monthly rate per (segment, tier) (the book's mean where empty)."""
    weights = np.zeros(shape)
    sums = np.zeros(shape)
    np.add.at(weights, (segment, tier), principal.astype(float))
    np.add.at(sums, (segment, tier), principal * monthly_rate)
    overall = sums.sum() / weights.sum() if weights.sum() > 0 else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weights > 0, sums / np.maximum(weights, 1e-300), overall)


def annuity_left(rate: np.ndarray, q_max: int, j_max: int) -> np.ndarray:
    """Share of principal left after paying j of q outstanding instalments, (..., Q, J)."""
    r = np.asarray(rate, dtype=float)[..., None, None]
    q = np.arange(q_max + 1)[:, None]
    j = np.arange(j_max + 1)[None, :]
    growth_q, growth_j = (1 + r) ** q, (1 + r) ** j
    with np.errstate(invalid="ignore", divide="ignore"):
        left = np.where(r > 0, (growth_q - growth_j) / (growth_q - 1), (q - j) / np.maximum(q, 1))
    return np.where(j >= q, 0.0, np.where(j == 0, 1.0, left))


class _Chain:
    """The month of SPEC 4 in expectation, for every (rate variant v, g, k, m, s, n, l, e)."""

    def __init__(
        self,
        model: Model,
        scenario: Scenario,
        policy: Policy,
        levers: Levers,
        reference_rate: np.ndarray,
        max_term: int,
        months: int,
        legal_min_balance: int,
    ) -> None:
        self.model, self.policy, self.levers = model, policy, levers
        self.grid = factor_grid(scenario.phi)
        self.sigma = scenario.sigma
        self.macro = macro_path_index(model, scenario, months)  # (months, G)
        self.probits = base_probits(model, policy)  # (G, K, 2, 7, 8) worst first
        self.rho = np.array([s.rho for s in model.segments])
        G, K = reference_rate.shape
        self.N = max_term + 1
        self.L = 2 if legal_min_balance > 0 else 1
        rate = reference_rate[None] + RATE_STEP * np.arange(2)[:, None, None]  # (2, G, K)
        self.discount = 1.0 / (1.0 + rate)
        self.left = annuity_left(rate, self.N + M6, M6 + 1)  # (2, G, K, Q, J)
        pen = model.penalty_multiplier
        # accrued interest per unit of principal of a loan in bucket k (months missed)
        k = np.arange(N_STATES)
        self.accrued = rate[..., None] * np.where(k > 0, 1 + (k - 1) * pen, 0.0)  # (2, G, K, 7)
        self.accrued_at_chargeoff = rate * (1 + M6 * pen)
        self.unpenalised = rate[..., None] * k  # accrued with the penalty part waived
        self.recovery = self._recovery(rate)  # (2, G, K, L)
        self.prepay = np.array([s.prepayment for s in model.segments])
        self.shape = (2, G, K, 2, N_STATES, self.N, self.L, len(self.grid.points))
        n = np.arange(self.N)
        self.n_next = np.maximum(n - 1, 0)
        self._probabilities: dict[int, np.ndarray] = {}
        self.due = (n > 0).astype(float)

    def _recovery(self, rate: np.ndarray) -> np.ndarray:
        """Present value at charge-off of recoveries per unit of charged-off balance."""
        rec = self.model.recovery
        months = np.arange(1, rec.window_months + 1)
        chance = rec.monthly_hazard * (1 - rec.monthly_hazard) ** (months - 1)
        fraction = beta_quantiles(rec.fraction_alpha, rec.fraction_beta).mean()
        agency = (chance * (1 + rate[..., None]) ** -months).sum(axis=-1)
        agency = agency * fraction * (1 - rec.agency_fee)
        legal = self.policy.legal
        out = np.repeat(agency[..., None], self.L, axis=-1)
        if legal is not None:
            lag = max(legal.lag_months, 1)
            court = legal.success * legal.recovered_fraction * (1 + rate) ** -lag
            pursued = legal.share * court + (1 - legal.share) * agency
            out[..., self.L - 1] = pursued  # l = L - 1: at or above the minimum balance
        return out

    # --- one month ------------------------------------------------------------------------

    def z(self, month: int) -> np.ndarray:
        """Z[g, e] in month ``month`` (1-based) at every grid point of the factor."""
        t = min(month, len(self.macro)) - 1
        return self.macro[t][:, None] + self.sigma * self.grid.points[None, :]

    def probabilities(self, z: np.ndarray) -> np.ndarray:
        """Destination probabilities (G, K, 2, 7, 8, E), natural order (current..charged_off)."""
        sqrt_rho = np.sqrt(self.rho)[:, None, None, None, None, None]
        scale = np.sqrt(1 - self.rho)[:, None, None, None, None, None]
        shift = sqrt_rho * z[:, None, None, None, None, :]
        cumulative = special.ndtr((self.probits[..., None] - shift) / scale)  # worst first
        cumulative[..., -1, :] = 1.0
        worst_first = np.diff(cumulative, axis=-2, prepend=0.0)
        return worst_first[..., ::-1, :]

    def month(
        self,
        month: int,
        after: np.ndarray,
        default: np.ndarray,
        holiday: np.ndarray | None,
        rows: int,
    ) -> np.ndarray:
        """Value at the start of ``month`` (before offers), rows 0..rows-1 of the state axis.

        ``after``: value at the end of the month for the destinations below stage 3 (or all, for
        the lifetime); ``default``: for destinations at or above ``rows`` (default entry);
        ``holiday``: value of a holiday started this month (None: no holiday possible).
        """
        z = self.z(month)
        p = self._probabilities.get(month)
        if p is None:  # each month is read by the lifetime pass and up to 12 windows
            p = self._probabilities[month] = self.probabilities(z)  # (G, K, 2, 7, 8, E)
        stay = self._no_offer(p, after, default, rows)
        if not _makes_offers(self.levers):
            return stay
        return self._offers(z, stay, holiday, rows)

    def _end(self, after: np.ndarray, default: np.ndarray, rows: int, state: int) -> np.ndarray:
        source = after if state < rows else default
        return source[:, :, :, :, state]  # (2, G, K, 2, N, L, E)

    def _no_offer(
        self, p: np.ndarray, after: np.ndarray, default: np.ndarray, rows: int
    ) -> np.ndarray:
        out = np.zeros((*self.shape[:4], rows, *self.shape[5:]))
        df = self.discount[:, :, :, None, None, None, None]
        nn = self.n_next
        n_idx = np.arange(self.N)

        def left(k: int, j: np.ndarray | int) -> np.ndarray:  # (2, G, K, N) share left
            q = n_idx + k
            jj = np.broadcast_to(j, q.shape)
            return self.left[:, :, :, q, jj]

        def expand(x: np.ndarray) -> np.ndarray:  # (2, G, K, N) -> (2, G, K, 1, N, 1, 1)
            return x[:, :, :, None, :, None, None]

        def prob(s: int, d: int) -> np.ndarray:  # (G, K, 2, E) -> (1, G, K, 2, 1, 1, E)
            return p[:, :, :, s, d, :][None, :, :, :, None, None, :]

        # current: prepay, miss (still unpaid at the month end), or pay one instalment
        keep = (1 - self.prepay)[None, :, None, None, None, None, None]
        miss = prob(0, M1)
        paid = expand(left(0, 1)) * self._end(after, default, rows, 0)[:, :, :, :, nn]
        missed = self._end(after, default, rows, M1)[:, :, :, :, nn]
        value = df * keep * (miss * missed + (1 - miss) * paid)
        value[:, :, :, :, 0] = 0.0  # nothing left to fall due: a current loan is paid off
        out[:, :, :, :, 0] = value
        due = self.due.astype(int)
        loss = 1 - self.recovery * (1 + self.accrued_at_chargeoff)[..., None]  # (2, G, K, L)
        for k in range(1, rows):
            value = np.zeros_like(out[:, :, :, :, 0])
            for d in range(k):  # cures, full or partial: pay k - d plus the one due
                end = self._end(after, default, rows, d)[:, :, :, :, nn]
                share = expand(left(k, k - d + due))
                if d == 0:
                    share = share * (nn > 0)[None, None, None, None, :, None, None]
                value += prob(k, d) * share * end
            stay_paid = expand(left(k, 1)) * self._end(after, default, rows, k)[:, :, :, :, nn]
            due_mask = self.due[None, None, None, None, :, None, None]
            roll_end = (
                self._end(after, default, rows, k + 1)[:, :, :, :, nn]
                if k < M6
                else loss[:, :, :, None, None, :, None]
            )
            value += prob(k, k) * (due_mask * stay_paid + (1 - due_mask) * roll_end)
            value += prob(k, min(k + 1, CHARGED_OFF)) * roll_end
            out[:, :, :, :, k] = df * value
        return out

    def _offers(
        self, z: np.ndarray, stay: np.ndarray, holiday: np.ndarray | None, rows: int
    ) -> np.ndarray:
        lv, policy = self.levers, self.policy
        re, ew = policy.reinstalment, policy.early_warning
        out = stay.copy()
        approve = _approval(policy, self.model, z)  # (G, K, E)
        term = min(re.term, self.N - 1) if re else 0
        # a re-instalment moves the loan to current on the restructured matrix; with behaviour
        # "bucket" it changes nothing the chain values (its capitalisation is ignored)
        moves = re is not None and not lv.reinstal_keeps_bucket
        restructured_current = stay[:, :, :, 1, 0, term] if moves else None  # (2, G, K, L, E)
        may_restructure = np.array([lv.reinstal_cap >= 1, lv.reinstal_cap >= 2])
        take = policy.holiday.take_up if policy.holiday else 0.0
        for s in range(1, rows):
            value = stay[:, :, :, :, s]  # (2, G, K, 2, N, L, E)
            if holiday is not None and lv.holiday_eligible[s] and lv.holiday_cap > 0:
                value = take * holiday[:, :, :, :, s] + (1 - take) * value
            if re is not None and restructured_current is not None and lv.reinstal_eligible[s]:
                apply = np.array([re.application.get(n, 0.0) for n in self.model.segment_names])
                chance = (apply[:, None, None] * approve)[None, :, :, None, None, None, :]
                chance = chance * may_restructure[None, None, None, :, None, None, None]
                grown = 1 + (self.unpenalised if re.waive_penalty else self.accrued)[..., s]
                moved = (grown[..., None, None] * restructured_current)[:, :, :, None, None]
                value = chance * moved + (1 - chance) * value
            if policy.settlement is not None and s >= lv.settle_min_state:
                accept = policy.settlement.acceptance
                loss = self.discount * lv.settle_haircut * (1 + self.accrued[..., s])  # (2, G, K)
                value = accept * loss[:, :, :, None, None, None, None] + (1 - accept) * value
            out[:, :, :, :, s] = value
        if ew is not None:
            out[:, :, :, :, 0] = self._early_warning(
                z, stay, holiday, approve, restructured_current, may_restructure
            )
        return out

    def _early_warning(
        self,
        z: np.ndarray,
        stay: np.ndarray,
        holiday: np.ndarray | None,
        approve: np.ndarray,
        restructured_current: np.ndarray | None,
        may_restructure: np.ndarray,
    ) -> np.ndarray:
        lv, ew = self.levers, self.policy.early_warning
        assert ew is not None
        active = (z < ew.trigger)[:, None, :] & lv.ew_tier.astype(bool)[None, :, None]  # (G,K,E)
        take = ew.take_up * active[None, :, :, None, None, None, :]
        value = stay[:, :, :, :, 0]
        if ew.offer == "holiday" and holiday is not None and lv.holiday_cap > 0:
            return take * holiday[:, :, :, :, 0] + (1 - take) * value
        if ew.offer == "reinstalment" and restructured_current is not None:
            chance = take * approve[None, :, :, None, None, None, :]
            chance = chance * may_restructure[None, None, None, :, None, None, None]
            moved = restructured_current[:, :, :, None, None]
            return chance * moved + (1 - chance) * value
        return value


def _makes_offers(levers: Levers) -> bool:
    """Whether the policy ever offers anything (the kernels' test)."""
    return bool(
        levers.settle_min_state < N_STATES
        or levers.reinstal_cap > 0
        or levers.holiday_cap > 0
        or levers.ew_offer != 0
    )


def _approval(policy: Policy, model: Model, z: np.ndarray) -> np.ndarray:
    """Re-instalment approval probability (G, K, E) at Z (G, E), as ``engine.levers`` has it."""
    re = policy.reinstalment
    if re is None:
        return np.zeros((z.shape[0], len(model.tiers), z.shape[1]))
    base = np.array([re.approval.get(t.name, 0.0) for t in model.tiers])
    return np.clip(base[None, :, None] + re.approval_macro_sensitivity * z[:, None, :], 0.0, 1.0)


def _mix(values: np.ndarray, transition: np.ndarray) -> np.ndarray:
    """Expectation over the next month's factor: sum_e' P[e, e'] values[..., e']."""
    return values @ transition.T


def build_ecl_tables(
    model: Model,
    scenario: Scenario,
    policy: Policy,
    levers: Levers,
    *,
    horizon: int,
    reference_rate: np.ndarray,
    max_term: int,
) -> EclTables:
    """Lifetime and 12-month ECL tables for the end of months 0..horizon."""
    legal = policy.legal
    legal_min = round(legal.min_balance * 100) if legal and legal.share > 0 else 0
    max_term = int(
        min(max(max_term, policy.reinstalment.term if policy.reinstalment else 0, 1), MAX_TERM)
    )
    holiday_months = policy.holiday.months if policy.holiday else 0
    # months until every loan alive at the horizon has run its course: its term, six buckets
    # after maturity, and TAIL_MONTHS of room for holidays and cures after maturity (the same
    # for every policy, so that a lever that cannot fire leaves the tables as they are);
    # recoveries are valued at charge-off
    end = horizon + max_term + M6 + 1 + TAIL_MONTHS
    keep = horizon + TWELVE_MONTHS + holiday_months + 1
    end = max(end, keep)  # the 12-month windows of the last months read this far
    chain = _Chain(model, scenario, policy, levers, reference_rate, max_term, end, legal_min)
    stage_3 = model.provisions.stage_3_state
    hol_power = (
        np.linalg.matrix_power(chain.grid.transition, holiday_months - 1)
        if holiday_months > 0
        else None
    )

    def holiday_value(source: dict[int, np.ndarray], month: int) -> np.ndarray | None:
        """Value of a holiday of ``holiday_months`` started in ``month``: the loan resumes at the
        end of month + holiday_months - 1 (interest capitalised at the rate it is discounted
        at, so the principal's growth and the discounting cancel)."""
        if hol_power is None:
            return None
        later = source.get(month + holiday_months - 1)
        if later is None:
            return np.zeros(chain.shape)
        return _mix(later, hol_power)

    lifetime: dict[int, np.ndarray] = {end: np.zeros(chain.shape)}
    for month in range(end, 0, -1):
        after = lifetime[month]
        start = chain.month(month, after, after, holiday_value(lifetime, month), N_STATES)
        lifetime[month - 1] = _mix(start, chain.grid.transition)
        if month + holiday_months > keep:
            lifetime.pop(month + holiday_months, None)

    twelve = np.stack(
        [
            _twelve_month(chain, lifetime, t, stage_3, holiday_months, hol_power)
            for t in range(horizon + 1)
        ]
    )
    table = np.stack([lifetime[t] for t in range(horizon + 1)])
    return EclTables(
        lifetime=_layout(table),
        twelve_month=_layout(twelve),
        reference_rate=reference_rate,
        grid=chain.grid,
        legal_min_balance=legal_min,
    )


def _twelve_month(
    chain: _Chain,
    lifetime: dict[int, np.ndarray],
    start: int,
    stage_3: int,
    holiday_months: int,
    hol_power: np.ndarray | None,
) -> np.ndarray:
    """Values at the end of month ``start`` of the losses from defaults (entering stage 3)
    within the next 12 months, for the states below stage 3."""
    window: dict[int, np.ndarray] = {
        start + TWELVE_MONTHS: np.zeros((*chain.shape[:4], stage_3, *chain.shape[5:]))
    }
    for month in range(start + TWELVE_MONTHS, start, -1):
        holiday = None
        if hol_power is not None:
            later = window.get(month + holiday_months - 1)
            holiday = np.zeros(window[month].shape) if later is None else _mix(later, hol_power)
            holiday = _pad_states(holiday)
        after = _pad_states(window[month])
        value = chain.month(month, after, lifetime[month], holiday, stage_3)
        window[month - 1] = _mix(value, chain.grid.transition)
    return _pad_states(window[start])[:, :, :, :, :stage_3]


def _pad_states(values: np.ndarray) -> np.ndarray:
    """A values array over the first S3 states, padded with zeros to all active states."""
    if values.shape[4] == N_STATES:
        return values
    pad = [(0, 0)] * values.ndim
    pad[4] = (0, N_STATES - values.shape[4])
    return np.pad(values, pad)


def _layout(table: np.ndarray) -> np.ndarray:
    """Values at the two rates (T, 2, G, K, M, S, N, L, E) -> value and slope in the rate
    (T, G, K, M, S, N, L, E, 2): a lookup reads the two neighbouring grid points of both from
    one cache line."""
    slope = (table[:, 1] - table[:, 0]) / RATE_STEP
    return np.ascontiguousarray(np.stack([table[:, 0], slope], axis=-1))


# --- reading the tables (NumPy; the kernels read the same numbers) ---------------------------


def opening_ecl(ecl: EclTables, book: Book, lifetime: bool = False) -> np.ndarray:
    """ECL in fen of each loan of the opening book at the as-of date (the allowance sums it):
    the factor at its stationary distribution, the 12-month table in stage 1 (``lifetime``:
    the lifetime ECL for every stage)."""
    n = book.opening_loans
    g, k = book.segment[:n].astype(np.intp), book.tier[:n].astype(np.intp)
    m = (book.restructured[:n] > 0).astype(np.intp)
    state = book.state[:n].astype(np.intp)
    term = np.minimum(book.remaining_term[:n], ecl.max_term)
    principal = book.principal[:n]
    legal = ((ecl.legal_min_balance > 0) & (principal >= ecl.legal_min_balance)).astype(np.intp)
    twelve = (book.opening_stage[:n] == 0) & (not lifetime)
    cells = np.empty((n, len(ecl.grid.points), 2))
    key = (g, k, m, state, term, legal)
    cells[twelve] = ecl.twelve_month[0][tuple(x[twelve] for x in key)]
    cells[~twelve] = ecl.lifetime[0][tuple(x[~twelve] for x in key)]
    value = cells[..., VALUE] @ ecl.grid.stationary
    slope = cells[..., SLOPE] @ ecl.grid.stationary
    rate = value + (book.monthly_rate[:n] - ecl.reference_rate[g, k]) * slope
    return np.rint(principal * rate).astype(np.int64)


def provision_tables(ecl: EclTables, rules: ProvisionRules) -> ProvisionTables:
    """The kernels' inputs for one scenario and policy: the tables in their lookup layout."""
    return ProvisionTables(
        enabled=True,
        lifetime=lookup_layout(ecl.lifetime),
        twelve_month=lookup_layout(ecl.twelve_month),
        reference_rate=np.ascontiguousarray(ecl.reference_rate, dtype=np.float64),
        max_term=ecl.max_term,
        legal_min_balance=ecl.legal_min_balance,
        stage_2_state=rules.stage_2_state,
        stage_3_state=rules.stage_3_state,
        probation_months=rules.probation_months,
        category=np.ascontiguousarray(rules.category, dtype=np.int8),
        observation_months=rules.observation_months,
        restructured_floor=rules.restructured_floor,
        restructured_overdue_floor=rules.restructured_overdue_floor,
        grid_start=float(ecl.grid.points[0]),
        grid_step=ecl.grid.step,
        grid_points=len(ecl.grid.points),
    )


def lookup_layout(table: np.ndarray) -> np.ndarray:
    """(T, G, K, M, S, N, L, E, 2) -> (T, E - 1, G, K, M, S, N, L, 4) float32: for the factor
    between grid points e and e + 1, a cell holds (value, slope) at both, so that a lookup
    reads one 16-byte piece, and all the loans of a path-month read one block in which the
    cells sit side by side. (Measured: the lookup's cost was its cache misses; float32 keeps 7
    significant digits, far below the tables' approximations.)"""
    pairs = np.concatenate([table[..., :-1, :], table[..., 1:, :]], axis=-1)  # (.., E-1, 4)
    return np.ascontiguousarray(np.moveaxis(pairs, 7, 1), dtype=np.float32)


def ecl_for_book(model: Model, scenario: Scenario, policy: Policy, levers: Levers, book: Book,
                 horizon: int, longest_term: int | None = None) -> EclTables:  # fmt: skip
    """The ECL tables of a run, from its opening book alone (so that they do not depend on the
    treasury's new lending): reference rates per segment and tier, and the longest term a loan
    can have (``longest_term``: by default the opening terms rounded up to a quarter, as new
    loans are drawn when the tape gives no original term, ``engine.cohorts``)."""
    n = book.opening_loans
    shape = (len(model.segments), len(model.tiers))
    rates = reference_rates(
        book.segment[:n], book.tier[:n], book.monthly_rate[:n], book.principal[:n], shape
    )
    if longest_term is None:
        longest_term = -(-int(book.remaining_term[:n].max(initial=1)) // QUARTER) * QUARTER
    return build_ecl_tables(
        model, scenario, policy, levers, horizon=horizon, reference_rate=rates,
        max_term=longest_term,
    )  # fmt: skip
