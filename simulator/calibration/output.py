"""A :class:`~simulator.calibration.fitting.Calibration` as a model file (TOML with a comment on
every number: estimate, interval, counts, data window, or that it is the base model's) and as a
JSON-ready dict."""

from __future__ import annotations

import json
import os
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator.calibration.systematic import LEVEL, Estimate
from simulator.errors import InputError
from simulator.inputs.panel import month_text
from simulator.states import ACTIVE_STATES, DESTINATIONS, STATES

if TYPE_CHECKING:
    from simulator.calibration.fitting import Calibration, RowEstimate, SegmentCalibration
    from simulator.inputs.model import Model

DIGITS = 10
"""Decimals of the probabilities written: rows then sum to 1 exactly in decimal."""


def _g(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}g}"


def _ci(e: Estimate, digits: int = 4) -> str:
    return f"{_g(e.value, digits)} (95% CI {_g(e.lower, digits)} to {_g(e.upper, digits)})"


def _row_text(p: np.ndarray) -> list[str]:
    """Probabilities rounded to DIGITS decimals, the largest absorbing the rounding so that the
    decimal values sum to exactly 1."""
    q = Decimal(1).scaleb(-DIGITS)
    cells = [Decimal(float(v)).quantize(q) for v in p]
    big = int(np.argmax(p))
    cells[big] = Decimal(1) - sum((c for i, c in enumerate(cells) if i != big), Decimal(0))
    return [format(c.normalize(), "f") if c != 0 else "0.0" for c in cells]


def model_text(cal: Calibration) -> str:
    """The model file of a calibration."""
    from simulator import __version__

    base = cal.base
    lines = [
        f"# Fitted by `stress-sim calibrate` (simulator {__version__}) from {cal.panel_source}:",
        f"# {cal.loans:,} loans, {cal.loan_months:,} loan-months, {cal.window}"
        + (f", {cal.paths} simulated paths" if cal.paths > 1 else "")
        + ".",
        f"# Base model for what the panel cannot tell: {base.source} [base model].",
        f"# Intervals are {LEVEL:.0%}. Base rows and rho are at the macro values of "
        f"{month_text(cal.reference_month)} (a scenario's month 0) with sigma = {cal.sigma:g}.",
        f"# Macro history: {cal.macro_source or 'none (rho from the index dispersion alone)'}"
        + (
            " (" + ", ".join(f"{k} = {v:g}" for k, v in cal.macro_reference.items()) + ")"
            if cal.macro_reference
            else ""
        ),
        "# Left out of the transition counts: "
        + ", ".join(f"{v:,} {k}" for k, v in cal.excluded.items() if v)
        + ".",
        f'description = "Calibrated to {Path(cal.panel_source).name}, {cal.window}"',
        "",
        f"penalty_multiplier = {base.penalty_multiplier!r}  # [base model]",
        f"affordability_power = {base.affordability_power!r}  # [base model]",
        "",
        "[macro_scale]  # [base model]",
        *(f"{k} = {v!r}" for k, v in base.macro_scale.items()),
        "",
        *_tier_lines(cal),
        *_behaviour_lines(base),
        "[collections]  # [base model]",
        f"cure_elasticity = {base.collections.cure_elasticity!r}",
        f"backlash = {base.collections.backlash!r}",
        "",
        *_recovery_lines(cal),
    ]
    for seg in cal.segments:
        lines += _segment_lines(cal, seg)
    return "\n".join(lines) + "\n"


def _behaviour_lines(base: Model) -> list[str]:
    """Payments, grace and relief memory: from the base model (a panel of month-end states
    does not show days to pay or what a loan was relieved from)."""
    relief = base.relief
    pairs = zip(ACTIVE_STATES, relief.peak, strict=True)
    peak = ", ".join(f"{state} = {float(p)!r}" for state, p in pairs)
    return [
        "[payments]  # [base model]",
        f"quick_share = {base.payments.quick_share!r}",
        f"pay_per_day = {base.payments.pay_per_day!r}",
        "",
        "[grace]  # [base model]",
        f"moral_hazard_per_day = {base.grace.moral_hazard_per_day!r}",
        "",
        "[relief]  # [base model]",
        f"peak = {{ {peak} }}",
        f"decay = {relief.decay!r}",
        f'tape_from = "{STATES[relief.tape_from]}"',
        "",
    ]


def _tier_lines(cal: Calibration) -> list[str]:
    lines = [
        "# Score tiers: cut-offs [base model]; delta by probit maximum likelihood given the rows,",
        f"# relative to the reference tier {cal.reference_tier}.",
    ]
    for tier in cal.tiers:
        note = _ci(tier.delta) if tier.source == "fitted" else tier.source
        lines += [
            "[[tiers]]",
            f'name = "{tier.name}"',
            f"min_score = {tier.min_score}",
            f"delta = {tier.delta.value:.6f}  # {note}; {tier.moves:,} moves",
            "",
        ]
    return lines


def _recovery_lines(cal: Calibration) -> list[str]:
    base, fit = cal.base.recovery, cal.recovery
    if fit is None or fit.events < 2:
        return [
            "[recovery]  # [base model]: too few recoveries in the panel",
            f"monthly_hazard = {base.monthly_hazard!r}",
            f"fraction_alpha = {base.fraction_alpha!r}",
            f"fraction_beta = {base.fraction_beta!r}",
            f"agency_fee = {base.agency_fee!r}",
            f"window_months = {base.window_months}",
            "",
        ]
    return [
        f"# Recoveries: {fit.charge_offs:,} charge-offs in the panel, {fit.events:,} recoveries in "
        f"{fit.at_risk:,} loan-months at risk.",
        "[recovery]",
        f"monthly_hazard = {fit.hazard.value:.6f}  # {_ci(fit.hazard)}, Jeffreys",
        f"fraction_alpha = {fit.alpha.value:.6f}  # Beta MLE {_ci(fit.alpha)}; mean fraction "
        f"{fit.mean_fraction:.3f}"
        + (f"; {fit.clipped} fractions outside (0, 1) clipped" if fit.clipped else ""),
        f"fraction_beta = {fit.beta.value:.6f}  # Beta MLE {_ci(fit.beta)}",
        f"agency_fee = {base.agency_fee!r}  # [base model]: the panel records gross recoveries",
        f"window_months = {fit.window}  # [base model]",
        "",
    ]


def _segment_lines(cal: Calibration, seg: SegmentCalibration) -> list[str]:
    base = cal.base.segments[[s.name for s in cal.base.segments].index(seg.name)]
    lines = [f"# Segment {seg.name}: {seg.loans:,} loans, {seg.moves:,} moves; {seg.source}."]
    sys = seg.systematic
    if seg.rho is not None and sys is not None:
        check = (
            f"; Vasicek moment estimator on the miss rates {seg.vasicek_rho:.4f}"
            if seg.vasicek_rho
            else ""
        )
        lines.append(
            f"# rho from the index over {sys.periods} periods ({sys.method}): {_ci(seg.rho)}"
            f"{check}; residual AR(1) phi {_ci(sys.phi, 3)}."
        )
    for name, sign in seg.sign.items():
        assert sys is not None  # signs are only checked on a fitted index
        lines.append(f"# beta.{name} = {_ci(sys.beta[name])}, Fieller; sign {sign}")
    if seg.prepayment is not None:
        lines.append(
            f"# prepayment: {seg.prepay_counts[0]:,} of {seg.prepay_counts[1]:,} current "
            f"loan-months, {_ci(seg.prepayment)}, Jeffreys."
        )
    rho = seg.rho.value if seg.rho is not None else base.rho
    prepay = seg.prepayment.value if seg.prepayment is not None else base.prepayment
    beta = {k: v.value for k, v in sys.beta.items()} if sys is not None else base.beta
    source = "" if seg.rho is not None else "  # [base model]"
    lines += [
        f"[segments.{seg.name}]",
        f"rho = {rho:.6f}{source}",
        f"prepayment = {prepay:.6f}" + ("" if seg.prepayment is not None else "  # [base model]"),
        "beta = { " + ", ".join(f"{k} = {v:.6f}" for k, v in beta.items()) + " }" + source,
        "",
    ]
    for kind, rows in (("normal", seg.normal), ("restructured", seg.restructured)):
        lines.append(f"[segments.{seg.name}.{kind}]")
        for state, row in zip(ACTIVE_STATES, rows, strict=True):
            lines += _row_lines(state, row)
        lines.append("")
    return lines


def _row_lines(state: str, row: RowEstimate) -> list[str]:
    reach = [i for i, _ in enumerate(DESTINATIONS) if row.probabilities[i] > 0 or row.moves[i] > 0]
    moves = ", ".join(f"{DESTINATIONS[i]} {int(row.moves[i])}" for i in reach)
    note = f"# {state}: {row.source}; moves: {moves or 'none'}"
    if not row.source.startswith("base model"):
        cis = ", ".join(f"{DESTINATIONS[i]} {row.lower[i]:.4f}-{row.upper[i]:.4f}" for i in reach)
        note += f"\n#   95% CI: {cis}"
    return [note, f"{state} = [{', '.join(_row_text(row.probabilities))}]"]


def write_model(cal: Calibration, path: str | Path) -> Path:
    """Write the model file atomically, after checking that it loads (``load_model``)."""
    from simulator.inputs.model import load_model

    path = Path(path)
    if path.suffix.lower() != ".toml":
        raise InputError(path, "expected an output path ending in .toml")
    text = model_text(cal)
    fd, tmp = tempfile.mkstemp(suffix=".toml", dir=path.parent if path.parent.exists() else None)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        load_model(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


# --- JSON -----------------------------------------------------------------------------------


def _row_dict(row: RowEstimate) -> dict[str, Any]:
    return {
        "source": row.source,
        "probabilities": dict(zip(DESTINATIONS, row.probabilities.tolist(), strict=True)),
        "lower": dict(zip(DESTINATIONS, row.lower.tolist(), strict=True)),
        "upper": dict(zip(DESTINATIONS, row.upper.tolist(), strict=True)),
        "moves": dict(zip(DESTINATIONS, row.moves.astype(int).tolist(), strict=True)),
        "observed": dict(zip(DESTINATIONS, np.nan_to_num(row.observed).tolist(), strict=True)),
    }


def _segment_dict(seg: SegmentCalibration, sigma: float) -> dict[str, Any]:
    sys = seg.systematic
    return {
        "source": seg.source,
        "loans": seg.loans,
        "moves": seg.moves,
        "rho": None if seg.rho is None else seg.rho.as_dict(),
        "vasicek_rho": seg.vasicek_rho,
        "prepayment": None if seg.prepayment is None else seg.prepayment.as_dict(),
        "prepayment_counts": {"events": seg.prepay_counts[0], "at_risk": seg.prepay_counts[1]},
        "beta": {} if sys is None else {k: v.as_dict() for k, v in sys.beta.items()},
        "beta_sign": seg.sign,
        "factor": None
        if sys is None
        else {
            "phi": sys.phi.as_dict(),
            "sigma": sigma,
            "level": sys.level.as_dict(),
            "method": sys.method,
            "periods": sys.periods,
        },
        "index": None if sys is None else dict(zip(seg.periods, sys.index.tolist(), strict=True)),
        "normal": {s: _row_dict(r) for s, r in zip(ACTIVE_STATES, seg.normal, strict=True)},
        "restructured": {
            s: _row_dict(r) for s, r in zip(ACTIVE_STATES, seg.restructured, strict=True)
        },
    }


def calibration_dict(cal: Calibration) -> dict[str, Any]:
    rec = cal.recovery
    return {
        "panel": cal.panel_source,
        "window": {"first": month_text(cal.first_month), "last": month_text(cal.last_month)},
        "paths": cal.paths,
        "loans": cal.loans,
        "loan_months": cal.loan_months,
        "reference_month": month_text(cal.reference_month),
        "macro": {"source": cal.macro_source, "reference": cal.macro_reference},
        "sigma": cal.sigma,
        "level": LEVEL,
        "excluded": cal.excluded,
        "reference_tier": cal.reference_tier,
        "tiers": {
            t.name: {"delta": t.delta.as_dict(), "moves": t.moves, "source": t.source}
            for t in cal.tiers
        },
        "recovery": None
        if rec is None
        else {
            "monthly_hazard": rec.hazard.as_dict(),
            "fraction_alpha": rec.alpha.as_dict(),
            "fraction_beta": rec.beta.as_dict(),
            "charge_offs": rec.charge_offs,
            "events": rec.events,
            "at_risk": rec.at_risk,
            "hazard_by_lag": rec.hazard_by_lag,
        },
        "segments": {s.name: _segment_dict(s, cal.sigma) for s in cal.segments},
    }


def calibration_json(cal: Calibration) -> str:
    def clean(value: Any) -> Any:
        if isinstance(value, float) and not np.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(calibration_dict(cal)), indent=2)
