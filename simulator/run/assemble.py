"""Stage 4 of ``simulate``: the integer totals of every block -> the Dataset of SPEC 6.

Each (scenario, policy) gets its per-account costs in fen and goes to
:func:`simulator.aggregate.build_dataset` (read from its module when the run assembles, so that
a benchmark can record its arguments), with the attributes that say how to reproduce the run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import xarray as xr

from simulator import aggregate
from simulator.run.blocks import PathTotals
from simulator.run.inputs import ResolvedRun


def assemble(run: ResolvedRun, totals: PathTotals) -> xr.Dataset:
    """The Dataset of a run whose blocks are all in ``totals``."""
    from simulator.liquidity import funding_spread

    inputs, treasury = run.inputs, run.treasury
    per_run = {}
    for s, scenario in enumerate(inputs.scenarios):
        for p, policy in enumerate(inputs.policies):
            arrays = totals.runs[(s, p)]
            per_run[(scenario.name, policy.name)] = aggregate.RunTotals(
                flows=arrays["flows"],
                stocks=arrays["stocks"],
                z=arrays["z"],
                ledger=arrays["ledger"],
                rwa=arrays["rwa"],
                tier_loss=arrays["tier_loss"],
                opening_allowance=int(arrays["opening_allowance"]),
                weight=arrays["weight"],
                collection_cost_per_account=round(
                    policy.collections.cost_per_account * policy.collections.intensity * 100
                ),
                operating_cost_per_account=round(treasury.operating_cost_per_account * 100),
                contact_cost=round(policy.collections.contact_cost * 100),
                holiday_months=policy.holiday.months if policy.holiday else 0,
            )
    return aggregate.build_dataset(
        per_run,
        scenarios=[s.name for s in inputs.scenarios],
        policies=[p.name for p in inputs.policies],
        segments=inputs.model.segment_names,
        tiers=inputs.model.tier_names,
        provisions=inputs.model.provisions if inputs.provisions else None,
        scenario_weights=[s.weight for s in inputs.scenarios],
        start=pd.Timestamp(run.start),
        segment_opening_fen=run.portfolio.segment_principal,
        treasury=treasury,
        spreads={s.name: funding_spread(s, inputs.horizon) for s in inputs.scenarios},
        attrs=provenance(run, totals.plan.paths),
    )


def tail_attributes(run: ResolvedRun) -> dict[str, Any]:
    """How the run sampled its tail (SPEC 13): nothing for a plain run."""
    tail = run.inputs.tail
    if tail is None:
        return {}
    shifts = {
        f"tail_shift_{s.name}": shift.mu
        for s, shift in zip(run.inputs.scenarios, run.inputs.shifts, strict=True)
        if shift is not None
    }
    return {
        "tail_sampling": tail.target,
        "tail_level": tail.level,
        "tail_defensive_share": tail.defensive,
        "tail_shift_scale": tail.scale,
        **shifts,
    }


def provenance(run: ResolvedRun, paths: int) -> dict[str, Any]:
    """The Dataset's attributes: the settings, the versions and the text of every input file."""
    from simulator import __version__

    inputs, book = run.inputs, run.portfolio
    return {
        "title": "portfolio stress simulation",
        "units": "CNY",
        "seed": str(inputs.seed),
        "paths": paths,
        "horizon": inputs.horizon,
        "engine": inputs.engine,
        "simulator_version": __version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "portfolio_source": book.source,
        "portfolio_sha256": book.sha256,
        "portfolio_loans": len(book),
        "model_file": inputs.model.text,
        "treasury_file": run.treasury.text,
        "capital_minimum_ratio": run.treasury.capital.minimum_ratio,
        **tail_attributes(run),
        **{f"scenario_file_{s.name}": s.text for s in inputs.scenarios},
        **{f"policy_file_{p.name}": p.text for p in inputs.policies},
    }
