"""The summary, first in the report: per scenario, one sentence saying which policy does best on
loss and on liquidity and whether the difference from the baseline is significant, and a table
of every policy's expected and tail loss, minimum buffer and shortfall probability side by side
with its paired differences from the baseline (``simulator.metrics.compare``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from html import escape

import xarray as xr

from simulator.report.context import Context, joined
from simulator.report.html import lvl
from simulator.report.tables import (
    CellLike,
    Table,
    cny_cell,
    diff_header,
    diff_interval,
    pct_cell,
    text_cell,
)
from simulator.variables import POLICY, SCENARIO


@joined
def section(ctx: Context) -> Iterator[str]:
    level = ctx.level
    yield '<section id="summary"><h2>Summary</h2>'
    for s in ctx.scenarios:
        sentence = verdict(s, ctx.policies, ctx.baseline, ctx.summary, ctx.comparison)
        yield f'<p class="verdict" id="{ctx.ids("verdict", s)}">{escape(sentence)}</p>'
        yield ctx.keep(_table(ctx, s))
    yield (
        '<p class="note">Loss rate: net credit loss over the horizon (charge-offs + settlement '
        f"losses - recoveries) divided by the opening principal. ES {lvl(level)}: the mean loss "
        f"rate on the worst {lvl(1 - level)} of paths. Minimum buffer: the lowest liquidity "
        "buffer of a path over the horizon; its 1% quantile is the level that 99% of paths stay "
        "above. Shortfall: the buffer below zero at the end of a month. Δ: each policy minus "
        f"{escape(ctx.baseline)} on the same simulated paths, with its confidence interval "
        "below it (ES: paired asymptotic interval); a difference is significant when its interval "
        "excludes 0.</p></section>"
    )


def _table(ctx: Context, s: str) -> Table:
    """Each policy's loss and liquidity side by side, with its paired difference from the
    baseline."""
    summary, comparison, baseline, level = ctx.summary, ctx.comparison, ctx.baseline, ctx.level
    header = ["policy", "expected loss", "± s.e.", f"ES {lvl(level)}",
              "min buffer, 1% of paths (CNY)", f"P(shortfall in {ctx.horizon} months)"]  # fmt: skip
    if comparison is not None:
        header += [diff_header("expected loss", "loss_rate", baseline),
                   diff_header(f"ES {lvl(level)}", "es", baseline),
                   diff_header("mean min buffer", "min_buffer", baseline)]  # fmt: skip
    rows: list[list[CellLike]] = []
    for p in ctx.policies:
        at = {SCENARIO: s, POLICY: p}
        row: list[CellLike] = [
            p,
            pct_cell(float(summary["expected_loss"].sel(at))),
            pct_cell(float(summary["expected_loss_se"].sel(at))),
            pct_cell(float(summary["es"].sel({**at, "level": level}))),
            cny_cell(float(summary["min_buffer_fan"].sel({**at, "quantile": 0.01}))),
            pct_cell(float(summary["shortfall_within_horizon"].sel(at)), 1),
        ]
        if comparison is not None:
            row += (
                [text_cell("baseline")] * 3
                if p == baseline
                else [diff_interval(comparison, m, at) for m in ("loss_rate", "es", "min_buffer")]
            )
        rows.append(row)
    caption = f"{s}: loss rate and liquidity by policy"
    if comparison is not None:
        confidence = float(comparison.attrs["confidence"])
        caption += f"; differences on the same paths ({confidence:.0%} intervals)"
    return Table(ctx.ids("summary", s), caption, header, rows)


def verdict(
    scenario: str,
    policies: Sequence[str],
    baseline: str,
    summary: xr.Dataset,
    comparison: xr.Dataset | None,
) -> str:
    """One sentence: which policy does best on lifetime loss (expected loss without provisions:
    what a policy defers past the horizon counted) and which on liquidity (the mean
    minimum buffer), by their paired differences from the baseline, and whether the difference
    is significant (its interval excludes 0). When the baseline does best, the next best
    policy's difference from it is the one tested."""
    if comparison is None or len(policies) < 2:
        el = float(summary["expected_loss"].sel({SCENARIO: scenario, POLICY: policies[0]}))
        return f"Under {scenario}, only {policies[0]} was run: expected loss {el:.2%}."
    booked = "lifetime_loss_rate_diff" in comparison
    stem, what = (
        ("lifetime_loss_rate", "lifetime loss") if booked else ("loss_rate", "expected loss")
    )
    best, loss = _clause(scenario, policies, baseline, comparison, stem, what)
    again, liquidity = _clause(scenario, policies, baseline, comparison, "min_buffer",
                               "mean minimum liquidity buffer")  # fmt: skip
    if again == best and best != baseline:  # the same policy wins both
        liquidity = "it also" + liquidity.removeprefix(best)
    return f"Under {scenario}, {loss}; {liquidity}."


def _clause(
    scenario: str,
    policies: Sequence[str],
    baseline: str,
    comparison: xr.Dataset,
    stem: str,
    what: str,
) -> tuple[str, str]:
    """The best policy on one measure, and the clause that says so."""
    lower_is_better = stem != "min_buffer"

    def diff(policy: str) -> list[float]:
        at = {SCENARIO: scenario, POLICY: policy}
        return [float(comparison[f"{stem}_diff{x}"].sel(at)) for x in ("", "_low", "_high", "_se")]

    # ranked by the paired difference from the baseline (0 for the baseline itself); ties go
    # to the baseline, then to the order of the run
    sign = 1.0 if lower_is_better else -1.0
    score = {p: 0.0 if p == baseline else sign * diff(p)[0] for p in policies}
    best = min(policies, key=lambda p: (score[p], p != baseline, policies.index(p)))
    other = best
    if best == baseline:
        other = min((p for p in policies if p != baseline), key=lambda p: score[p])
    d, low, high, se = diff(other)
    if d == 0 and se == 0:
        return "", f"no policy changes the {what} (the same as {baseline}'s on every path)"
    factor, unit = (0.01, "pp") if lower_is_better else _money_unit(max(map(abs, (d, low, high))))
    digits = 2 if max(abs(d), abs(low), abs(high)) / factor < 10 else 1

    def show(x: float) -> str:
        return f"{x / factor:+,.{digits}f}"

    confidence = float(comparison.attrs.get("confidence", 0.95))
    significance = "significant" if low > 0 or high < 0 else "not significant, it includes 0"
    test = f"{confidence:.0%} interval [{show(low)}, {show(high)}] {unit}: {significance}"
    superlative = "lowest" if lower_is_better else "highest"
    if best != baseline:
        return (
            best,
            f"{best} has the {superlative} {what}, {show(d)} {unit} against {baseline} ({test})",
        )
    return best, (
        f"{baseline}, the baseline, has the {superlative} {what}; the next best, {other}, is "
        f"{show(d)} {unit} from it ({test})"
    )


def _money_unit(top: float) -> tuple[float, str]:
    """A divisor and a unit that keep a CNY amount of this size short."""
    for factor, name in ((1e9, "billion"), (1e6, "million"), (1e3, "thousand")):
        if top >= factor:
            return factor, f"{name} CNY"
    return 1.0, "CNY"
