"""``backtest``: the model out of time, on the realised macro path, against what happened.

1. The as-of book: the panel's loans on book (current or 1-180 DPD) at the as-of month, with
   their segment, score, dpd, principal, rate, remaining term, instalment and restructurings -
   nothing after the as-of month is read for it.
2. A history-replay scenario: the macro file's values month by month after the as-of month (month
   0 holds the model's reference values, by default the as-of month's), the factor AR(1) with
   ``phi`` and ``sigma``.
3. ``simulator.simulate`` runs the book forward (standard policy, run-off treasury: no new loans).
4. Per month, for the as-of book only, realised against simulated: roll (flow) rates by bucket
   (accounts in the next bucket over accounts in the bucket a month earlier; charge-offs over
   151-180 DPD accounts), the charge-off rate (principal and interest written off over opening
   principal) and the 90+ DPD ratio (balance 91-180 DPD over balance on book). Each realised
   value's quantile among the paths gives a traffic light: green below the simulated 95%
   quantile, yellow from 95% to 99.9%, red from 99.9% - and, symmetrically, yellow below 5% and
   red below 0.1% (a model that overstates risk is also wrong; ``side`` says which way).
5. Per bucket over the whole window, a Jeffreys test of the loan-level roll count against the
   model's expected roll probability (its rows, tier offsets and macro path, averaged over the
   factor in closed form); it ignores default correlation, so it rejects more often than its
   level when the factor moved: read it with the traffic lights.
6. A naive benchmark: the average flow rate of each bucket over the panel's months up to the
   as-of month, beside the model's median.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special, stats

from simulator.calibration.counts import transitions
from simulator.calibration.macro import MacroHistory
from simulator.errors import InputError
from simulator.inputs.model import Model
from simulator.inputs.panel import Panel, month_text
from simulator.inputs.portfolio import Portfolio, annuity_fen
from simulator.inputs.scenario import Scenario, macro_index
from simulator.states import ACTIVE_STATES, CHARGED_OFF, M6, STATES

GREEN, YELLOW, RED = 0.95, 0.999, 1.0
SERIOUS = 4  # dpd_91_120: the first bucket of the 90+ DPD ratio
ROLLS = tuple(f"{ACTIVE_STATES[k]} -> {STATES[k + 1]}" for k in range(M6 + 1))


@dataclass(frozen=True)
class Check:
    metric: str  # "roll", "charge_off_rate", "dpd90_ratio"
    label: str  # the bucket move for rolls
    month: str
    realised: float
    quantiles: dict[str, float]  # q0.001, q0.05, q0.5, q0.95, q0.999 of the simulated values
    quantile: float  # share of paths below the realised value (mid-rank)
    light: str  # green, yellow, red
    side: str  # "high", "low" or ""
    naive: float | None  # the naive benchmark's prediction (rolls)


@dataclass(frozen=True)
class Jeffreys:
    label: str
    moves: int
    rolls: int
    predicted: float
    realised: float
    p_high: float  # P(rate <= predicted | data): small when realised is above the model
    p_low: float
    verdict: str


@dataclass(frozen=True)
class Backtest:
    as_of: str
    months: int
    paths: int
    loans: int
    checks: tuple[Check, ...]
    jeffreys: tuple[Jeffreys, ...]
    naive_mae: dict[str, float]  # per roll: mean absolute error of the naive benchmark
    model_mae: dict[str, float]  # and of the model's median

    def lights(self) -> dict[str, int]:
        out = {"green": 0, "yellow": 0, "red": 0}
        for c in self.checks:
            out[c.light] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            "as_of": self.as_of,
            "months": self.months,
            "paths": self.paths,
            "loans": self.loans,
            "lights": self.lights(),
            "checks": [asdict(c) for c in self.checks],
            "jeffreys": [asdict(j) for j in self.jeffreys],
            "naive_mae": self.naive_mae,
            "model_mae": self.model_mae,
        }


def light(quantile: float) -> tuple[str, str]:
    """Traffic light and side of a realised value's quantile among the simulated paths."""
    if quantile >= YELLOW:
        return "red", "high"
    if quantile >= GREEN:
        return "yellow", "high"
    if quantile <= 1 - YELLOW:
        return "red", "low"
    if quantile <= 1 - GREEN:
        return "yellow", "low"
    return "green", ""


def backtest(
    panel: Panel,
    model: Model,
    as_of: int,
    macro: MacroHistory,
    *,
    paths: int = 1000,
    seed: int = 0,
    horizon: int | None = None,
    macro_reference: int | None = None,
    phi: float = 0.8,
    sigma: float = 1.0,
    path: int = 0,
    engine: str = "numba",
) -> Backtest:
    """Backtest ``model`` on ``panel`` from ``as_of`` (a month index); see the module."""
    from simulator.run import simulate

    panel = panel.select(panel.path == path)
    months = _horizon(panel, macro, as_of, horizon)
    book, on_book = as_of_book(panel, model, as_of)
    scenario = replay_scenario(macro, as_of, months, macro_reference, phi, sigma)
    ds = simulate(
        book,
        [scenario],
        ["standard"],
        model=model,
        treasury="run-off",
        paths=paths,
        horizon=months,
        seed=seed,
        engine=engine,
    )
    simulated = _simulated(ds.isel(scenario=0, policy=0))
    window = panel.select(on_book & (panel.month >= as_of) & (panel.month <= as_of + months))
    realised = _realised(window, as_of, months)
    naive = _naive(panel.select(panel.month <= as_of), as_of)
    checks = _checks(simulated, realised, naive, as_of)
    return Backtest(
        as_of=month_text(as_of),
        months=months,
        paths=paths,
        loans=len(book),
        checks=checks,
        jeffreys=_jeffreys(window, model, scenario, months),
        naive_mae=_mae(checks, use_naive=True),
        model_mae=_mae(checks, use_naive=False),
    )


def _horizon(panel: Panel, macro: MacroHistory, as_of: int, horizon: int | None) -> int:
    if not panel.first_month <= as_of < panel.last_month:
        raise InputError(
            panel.source,
            f"as-of month {month_text(as_of)} must be a month of the panel before its last "
            f"({panel.window()})",
        )
    available = min(panel.last_month, macro.last_month) - as_of
    if available < 1:
        raise InputError(macro.source, f"no macro values after the as-of month {month_text(as_of)}")
    return available if horizon is None else max(1, min(horizon, available))


def as_of_book(panel: Panel, model: Model, as_of: int) -> tuple[Portfolio, np.ndarray]:
    """The loans on book at ``as_of`` as a Portfolio, and a mask of all their panel rows."""
    missing = [c for c in ("annual_rate", "remaining_term") if c not in panel.columns]
    if missing:
        raise InputError(panel.source, f"the as-of book needs the column(s) {', '.join(missing)}")
    rows = np.flatnonzero((panel.month == as_of) & (panel.state <= M6) & (panel.principal > 0))
    if len(rows) == 0:
        raise InputError(panel.source, f"no loans on book in {month_text(as_of)}")
    principal = np.rint(panel.principal[rows] * 100).astype(np.int64)
    rate = np.nan_to_num(panel.annual_rate[rows])
    term = np.maximum(panel.remaining_term[rows], 0).astype(np.int32)
    instalment = np.where(
        np.isfinite(panel.instalment[rows]),
        np.rint(np.nan_to_num(panel.instalment[rows]) * 100),
        annuity_fen(principal, rate, np.maximum(term, 1)),
    ).astype(np.int64)
    book = Portfolio(
        loan_id=panel.loan[rows],
        segment=panel.segment[rows].astype(np.int8),
        tier=panel.tier[rows].astype(np.int8),
        score=panel.score[rows].astype(np.int32),
        principal=principal,
        annual_rate=rate.astype(np.float64),
        remaining_term=term,
        instalment=instalment,
        dpd=panel.dpd[rows].astype(np.int32),
        restructured=panel.restructured[rows].astype(np.int32),
        monthly_income=np.zeros(len(rows), np.int64),
        segment_names=model.segment_names,
        tier_names=model.tier_names,
        source=f"{panel.source} as of {month_text(as_of)}",
    )
    return book, np.isin(panel.loan, panel.loan[rows])


def replay_scenario(
    macro: MacroHistory,
    as_of: int,
    months: int,
    reference: int | None,
    phi: float,
    sigma: float,
) -> Scenario:
    """The realised macro path after ``as_of`` as a scenario; month 0 holds the reference."""
    reference = as_of if reference is None else reference
    steps = np.arange(as_of + 1, as_of + months + 1)
    ref = macro.at(np.array([reference]))[0]
    values = macro.at(steps)
    anchors = {
        name: ((0, float(ref[v])), *((i + 1, float(x)) for i, x in enumerate(values[:, v])))
        for v, name in enumerate(macro.variables)
    }
    first = as_of + 1
    return Scenario(
        name="history-replay",
        description=f"{macro.source} from {month_text(first)}, month 0 = {month_text(reference)}",
        source=macro.source,
        text=f"history replay of {macro.source}, phi = {phi}, sigma = {sigma}",
        horizon=months,
        start=dt.date(first // 12, first % 12 + 1, 1),
        phi=phi,
        sigma=sigma,
        anchors=anchors,
    )


# --- realised and simulated series --------------------------------------------------------


def _series(
    accounts: np.ndarray,
    balance: np.ndarray,
    charged: np.ndarray,
    co_amount: np.ndarray,
    opening: float,
) -> dict[str, np.ndarray]:
    """Metrics from stocks by month 0..H: ``accounts``/``balance`` (..., H + 1, 7 active
    states), ``charged`` (..., H) new charge-offs and ``co_amount`` (..., H) written off."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {}
        for k in range(M6):
            out[ROLLS[k]] = accounts[..., 1:, k + 1] / accounts[..., :-1, k]
        out[ROLLS[M6]] = charged / accounts[..., :-1, M6]
        out["charge_off_rate"] = co_amount / opening
        out["dpd90_ratio"] = balance[..., 1:, SERIOUS:].sum(-1) / balance[..., 1:, :].sum(-1)
    return out


def _simulated(ds: Any) -> dict[str, np.ndarray]:
    accounts = ds["accounts"].transpose("path", "month", "state").values.astype(float)
    balance = ds["balance"].transpose("path", "month", "state").values
    state_names = [str(s) for s in ds["state"].values]
    active = [state_names.index(s) for s in ACTIVE_STATES]
    co = state_names.index(STATES[CHARGED_OFF])
    charged_cum = accounts[:, :, co]
    charged = np.diff(
        np.concatenate([np.zeros((len(charged_cum), 1)), charged_cum], axis=1), axis=1
    )
    amount = (
        (ds["chargeoff_principal"] + ds["chargeoff_interest"]).transpose("path", "month").values
    )
    opening = float(ds["opening_principal"].values)
    return {
        "accounts": accounts[:, :, active],
        "balance": balance[:, :, active],
        "charged": charged,
        "amount": amount,
        "opening": np.array(opening),
    }


def _realised(window: Panel, as_of: int, months: int) -> dict[str, np.ndarray]:
    t = window.month - as_of
    active = window.state <= M6
    accounts = np.zeros((months + 1, M6 + 1))
    balance = np.zeros((months + 1, M6 + 1))
    np.add.at(accounts, (t[active], window.state[active]), 1)
    np.add.at(balance, (t[active], window.state[active]), window.principal[active])
    previous = np.full(len(window), -1)
    same = np.zeros(len(window), dtype=bool)
    same[1:] = window.loan[1:] == window.loan[:-1]
    previous[1:] = window.state[:-1]
    new_co = same & (window.state == CHARGED_OFF) & (previous >= 0) & (previous <= M6)
    charged = np.bincount(t[new_co], minlength=months + 1)[1:].astype(float)
    amount = np.bincount(t[new_co], weights=window.principal[new_co], minlength=months + 1)[1:]
    return {
        "accounts": accounts,
        "balance": balance,
        "charged": charged,
        "amount": amount,
        "opening": np.array(balance[0].sum()),
    }


def _with_opening(sim: dict[str, np.ndarray], real: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The simulated stocks of months 1..H preceded by the as-of book's (month 0)."""
    paths = len(sim["accounts"])
    out = dict(sim)
    out["accounts"] = np.concatenate(
        [np.broadcast_to(real["accounts"][:1], (paths, 1, M6 + 1)), sim["accounts"]], axis=1
    )
    out["balance"] = np.concatenate(
        [np.broadcast_to(real["balance"][:1], (paths, 1, M6 + 1)), sim["balance"] / 1.0], axis=1
    )
    return out


def _naive(history: Panel, as_of: int) -> dict[str, float]:
    """Average flow rate of each bucket over the months up to ``as_of`` (all loans)."""
    first = history.first_month
    months = as_of - first
    if months < 1:
        return {}
    t = history.month - first
    active = history.state <= M6
    accounts = np.zeros((months + 1, M6 + 1))
    np.add.at(accounts, (t[active], history.state[active]), 1)
    real = _realised(history, first, months)
    series = _series(
        accounts[None], real["balance"][None], real["charged"][None], real["amount"][None], 1.0
    )
    return {k: float(np.nanmean(series[k])) for k in ROLLS if np.isfinite(series[k]).any()}


LEVELS = {"q0.001": 0.001, "q0.05": 0.05, "q0.5": 0.5, "q0.95": 0.95, "q0.999": 0.999}
WINDOW = "window"
"""The ``month`` of a check on the average over the backtest's months (less factor noise than
one month: a persistent bias shows there first)."""


def _checks(
    sim: dict[str, np.ndarray], real: dict[str, np.ndarray], naive: dict[str, float], as_of: int
) -> tuple[Check, ...]:
    full = _with_opening(sim, real)
    s = _series(
        full["accounts"], full["balance"], full["charged"], full["amount"], float(full["opening"])
    )
    r = _series(
        real["accounts"], real["balance"], real["charged"], real["amount"], float(real["opening"])
    )
    out = []
    for name, realised in r.items():
        for t, value in enumerate(realised):
            out.append(_check(name, month_text(as_of + t + 1), value, s[name][:, t], naive))
        seen = np.isfinite(realised)
        if seen.any():
            with np.errstate(invalid="ignore"):
                window = np.nanmean(np.where(seen, s[name], np.nan), axis=1)
            out.append(_check(name, WINDOW, float(np.mean(realised[seen])), window, naive))
    return tuple(c for c in out if c is not None)


def _check(
    name: str, month: str, value: float, values: np.ndarray, naive: dict[str, float]
) -> Check | None:
    """A realised value against the simulated ones (paths where the metric is defined)."""
    values = values[np.isfinite(values)]
    if not np.isfinite(value) or len(values) == 0:
        return None
    q = float((np.sum(values < value) + 0.5 * np.sum(values == value)) / len(values))
    colour, side = light(q)
    metric = "roll" if name in ROLLS else name
    return Check(
        metric=metric,
        label=name if metric == "roll" else "",
        month=month,
        realised=float(value),
        quantiles={k: float(np.quantile(values, v)) for k, v in LEVELS.items()},
        quantile=q,
        light=colour,
        side=side,
        naive=naive.get(name),
    )


def _mae(checks: tuple[Check, ...], use_naive: bool) -> dict[str, float]:
    out: dict[str, list[float]] = {}
    for c in checks:
        if c.metric != "roll" or c.naive is None or c.month == WINDOW:
            continue
        predicted = c.naive if use_naive else c.quantiles["q0.5"]
        out.setdefault(c.label, []).append(abs(predicted - c.realised))
    return {k: float(np.mean(v)) for k, v in out.items()}


# --- the Jeffreys test ------------------------------------------------------------------------


def expected_roll(model: Model, index: np.ndarray, sigma: float) -> np.ndarray:
    """The model's roll probability (to the next bucket or worse) averaged over the factor:
    ``Phi((Phi^-1(T) + delta - sqrt(rho) m) / sqrt(1 - rho + rho sigma^2))`` with ``m`` the
    macro part of Z; shape (months, G, T, 2, 7)."""
    out = np.zeros((len(index), len(model.segments), len(model.tiers), 2, M6 + 1))
    delta = np.array([t.delta for t in model.tiers])
    for g, seg in enumerate(model.segments):
        for m, matrix in enumerate((seg.normal, seg.restructured)):
            roll = np.array([matrix[s, s + 1 :].sum() for s in range(M6 + 1)])
            with np.errstate(divide="ignore"):
                probit = special.ndtri(np.clip(roll, 0, 1))
            shift = (
                probit[None, None, :]
                + delta[None, :, None]
                - np.sqrt(seg.rho) * index[:, g, None, None]
            )
            out[:, g, :, m, :] = special.ndtr(shift / np.sqrt(1 - seg.rho + seg.rho * sigma**2))
    return out


def _jeffreys(window: Panel, model: Model, scenario: Scenario, months: int) -> tuple[Jeffreys, ...]:
    counts = transitions(window)
    p = expected_roll(
        model, macro_index(model, scenario, months), scenario.sigma
    )  # (H, G, T, 2, 7)
    # periods are months as_of + 1 .. as_of + months, in order
    step = counts.period_month - counts.period_month.min()
    n = counts.counts.sum(axis=-1)  # (U, G, T, 2, 7)
    rolls = np.stack([counts.counts[..., s, s + 1] for s in range(M6 + 1)], axis=-1)
    out = []
    for s in range(M6 + 1):
        total, x = int(n[..., s].sum()), int(rolls[..., s].sum())
        if total == 0:
            continue
        predicted = float((n[..., s] * p[step][..., s]).sum() / total)
        a, b = x + 0.5, total - x + 0.5
        p_high = float(stats.beta.cdf(predicted, a, b))
        verdict = "consistent"
        if p_high < 0.05:
            verdict = "realised above the model (5%)"
        elif 1 - p_high < 0.05:
            verdict = "realised below the model (5%)"
        out.append(Jeffreys(ROLLS[s], total, x, predicted, x / total, p_high, 1 - p_high, verdict))
    return tuple(out)
