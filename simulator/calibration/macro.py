"""A macro history (the scenario history format, ``read_history``) as values by calendar month."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator.errors import InputError
from simulator.inputs.model import Model
from simulator.inputs.panel import month_text
from simulator.inputs.scenario import read_history

EXPECTED_SIGN = {
    "unemployment_rate": 1,
    "gdp_growth": -1,
    "self_employed_income": -1,
    "input_cost_index": 1,
    "funding_spread_bp": 1,
}
"""Sign of beta a credit analyst expects: +1 where a rise of the variable is bad times."""


@dataclass(frozen=True)
class MacroHistory:
    source: str
    first_month: int  # month index of the first value
    values: dict[str, np.ndarray]  # monthly, interpolated between the file's dates

    @property
    def last_month(self) -> int:
        return self.first_month + len(next(iter(self.values.values()))) - 1

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(self.values)

    def at(self, months: np.ndarray) -> np.ndarray:
        """Values (n, V) at month indices; :class:`InputError` for a month outside the file."""
        months = np.asarray(months, dtype=np.int64)
        outside = (months < self.first_month) | (months > self.last_month)
        if outside.any():
            raise InputError(
                self.source,
                f"the history runs from {month_text(self.first_month)} to "
                f"{month_text(self.last_month)}, but months "
                f"{month_text(int(months.min()))} to {month_text(int(months.max()))} are needed",
            )
        return np.column_stack([v[months - self.first_month] for v in self.values.values()])


def load_macro(path: str | Path, model: Model) -> MacroHistory:
    """Read a history CSV; every variable must have a scale in the model's ``[macro_scale]``."""
    path = Path(path)
    start, anchors = read_history(path)
    unknown = [v for v in anchors if v not in model.macro_scale]
    if unknown:
        raise InputError(
            path,
            f"column(s) {', '.join(unknown)}: not macro variables of model '{model.name}' "
            f"(expected some of: {', '.join(model.macro_scale)})",
        )
    last = max(points[-1][0] for points in anchors.values())
    months = np.arange(last + 1)
    values = {
        name: np.interp(months, [m for m, _ in points], [v for _, v in points])
        for name, points in anchors.items()
    }
    return MacroHistory(str(path), start.year * 12 + start.month - 1, values)
