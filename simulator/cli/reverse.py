"""``stress-sim reverse``: the most likely factor path to a loss rate, as a scenario file
(``simulator.reverse``)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from simulator.cli.common import debug_option, model_option, print_table, write_atomically
from simulator.errors import InputError
from simulator.reverse import METRICS, Failure

TARGET_FORMS = "loss_rate=X, capital_ratio=X or buffer[=X]"


def _failure(text: str, month: int | None) -> Failure:
    name, equals, value = (part.strip() for part in text.partition("="))
    if name not in METRICS or (name != "buffer" and not equals):
        raise InputError(None, f"--target {text}: expected {TARGET_FORMS}")
    try:
        number = float(value) if equals else 0.0
    except ValueError:
        raise InputError(None, f"--target {text}: expected {TARGET_FORMS}, X a number") from None
    return Failure(name, number, month)


def _cell(failure: Failure, value: float) -> str:
    return f"{value:,.0f} CNY" if failure.metric == "buffer" else f"{value:.2%}"


@click.command()
@click.option("--target", required=True, metavar="loss_rate=X|capital_ratio=X|buffer[=X]",
              help="The failure to reach: a loss rate over the horizon (share of opening "
              "principal) of at least X; a capital ratio at or below X; a liquidity buffer at or "
              "below X CNY (default 0: it runs out).")  # fmt: skip
@click.option("--month", type=int, metavar="M",
              help="capital_ratio and buffer: the failure counts in months 1-M (default: the "
              "horizon).")  # fmt: skip
@click.option("--scenario", default="severe", show_default=True, metavar="NAME|PATH",
              help="The scenario whose factor path is searched.")  # fmt: skip
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the scenario that replays the path to this .toml file.")  # fmt: skip
@click.option("--synthetic", type=click.IntRange(min=1), metavar="N",
              help="A synthetic book of N loans (default: the embedded 100,000).")  # fmt: skip
@click.option("--portfolio", "portfolio_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Loan tape instead of a synthetic book.")  # fmt: skip
@model_option
@click.option("--treasury", default="default", show_default=True, metavar="NAME|PATH")
@click.option("--paths", default=1000, show_default=True, type=click.IntRange(min=20),
              help="Paths of the tail-sampled run that estimates the probability.")  # fmt: skip
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**64 - 1))
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@debug_option
def reverse(target: str, month: int | None, scenario: str, out: Path, synthetic: int | None,
            portfolio_path: Path | None, model: str, treasury: str, paths: int, seed: int,
            as_json: bool) -> None:  # fmt: skip
    """What would it take to fail under a scenario - lose a given share of the book, or see the
    capital ratio or the liquidity buffer fall to a level - and how likely is it? Fits the
    failure's measure (the loss rate, or the lowest capital ratio or buffer of the months) on
    the factor's innovations over 256 plain pilot paths, takes the most likely innovation path
    reaching --target (the fit's large-deviations mode), and writes
    the scenario that replays it (its [factor] innovation_mean). Reports the path's distance in
    standard deviations and its plausibility (one horizon in 1 / Phi(-distance), as years), the
    probability of reaching the target under the scenario with its 95% interval (a run with tail
    sampling aimed there), the mean of the measure on the replaying scenario's plain run, the
    months the path moves most and the segments' shares of the loss."""
    from simulator.inputs.portfolio import load_portfolio
    from simulator.reverse import reverse_stress

    failure = _failure(target, month)
    if out.suffix != ".toml":
        raise InputError(out, "expected an output path ending in .toml")
    book = synthetic if portfolio_path is None else load_portfolio(portfolio_path, model=model)
    answer = reverse_stress(book, scenario, failure, seed=seed, paths=paths, model=model,
                            treasury=treasury)  # fmt: skip

    def write(tmp: str) -> None:
        Path(tmp).write_text(answer.toml, encoding="utf-8")

    write_atomically(out, write)
    document = {
        "scenario": answer.scenario, "metric": failure.metric, "target": failure.value,
        "month": failure.month or answer.horizon, "failure": failure.describe(answer.horizon),
        "expected": answer.expected, "distance": answer.distance,
        "one_in_years": answer.one_in_years, "probability": answer.probability,
        "probability_low": answer.probability_low, "probability_high": answer.probability_high,
        "replayed": answer.replayed, "worst_months": answer.worst_months(),
        "segment_shares": answer.segment_shares, "innovation_mean": answer.mu.tolist(),
        "out": str(out),
    }  # fmt: skip
    if as_json:
        click.echo(json.dumps(document, indent=2))
        return
    measure = {"loss_rate": "loss rate", "capital_ratio": "lowest capital ratio",
               "buffer": "lowest liquidity buffer"}[failure.metric]  # fmt: skip
    print_table(
        f"Reverse stress of {answer.scenario}: {failure.describe(answer.horizon)} (written to "
        f"{out})",
        ["measure", "value"],
        [[f"expected {measure} under the scenario (pilot fit)",
          _cell(failure, answer.expected)],
         ["distance of the most likely path", f"{answer.distance:.2f} standard deviations"],
         ["plausibility", f"one in {answer.one_in_years:,.0f} years"],
         ["P(target reached), 95% interval", f"{answer.probability:.3%} "
          f"[{answer.probability_low:.3%}, {answer.probability_high:.3%}]"],
         [f"mean {measure} of the replaying scenario", _cell(failure, answer.replayed)],
         ["months the path moves most", ", ".join(map(str, answer.worst_months()))],
         ["share of the loss by segment", ", ".join(f"{g} {v:.0%}" for g, v in
                                                    answer.segment_shares.items())]],
    )  # fmt: skip


COMMANDS = (reverse,)
