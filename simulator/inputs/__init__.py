"""Inputs: the loan tape and the four kinds of TOML configuration file, validated on load.

Everything here turns user files into immutable Python objects and flat NumPy arrays; nothing
downstream (model tables, kernels, aggregation) reads a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.inputs.files import Kind, read_toml

# Top-level tables that only one kind of file has, to tell a file's kind without being told.
_MARKERS: dict[str, Kind] = {
    "segments": "model",
    "tiers": "model",
    "macro": "scenario",
    "history": "scenario",
    "factor": "scenario",
    "funding": "treasury",
    "new_lending": "treasury",
}


def guess_kind(path: Path) -> Kind:
    """The kind of a configuration file from its top-level keys (a policy has none of these)."""
    data, _ = read_toml(path)
    kinds = {_MARKERS[key] for key in data if key in _MARKERS}
    return kinds.pop() if len(kinds) == 1 else "policy"


def check_file(
    path: Path, kind: Kind | None = None, model: str | Path = "default"
) -> tuple[Kind, Any]:
    """Load a configuration file of any kind, cross-checked against ``model``'s names."""
    from simulator.inputs.model import check_macro_variables, load_model
    from simulator.inputs.policy import check_policy_against_model, load_policy
    from simulator.inputs.scenario import load_scenario
    from simulator.inputs.treasury import load_treasury

    path = Path(path)
    kind = kind or guess_kind(path)
    if kind == "model":
        return kind, load_model(path)
    reference = load_model(model)
    if kind == "scenario":
        scenario = load_scenario(path)
        check_macro_variables(reference, set(scenario.variables), scenario.source)
        return kind, scenario
    if kind == "policy":
        policy = load_policy(path)
        check_policy_against_model(policy, reference)
        return kind, policy
    return kind, load_treasury(path)
