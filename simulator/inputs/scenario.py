"""The scenario file (SPEC 3.3): a named macro path and its stochastic systematic factor.

Each macro variable is given as anchor points ``[[month, value], ...]`` interpolated linearly to
months (flat beyond the last point), or the scenario points to a CSV of a historical series,
monthly or quarterly, resampled to months the same way. Month 0 is the as-of date of the book.

The stochastic part is one systematic factor per path, ``eta_t``: AR(1) with coefficient ``phi``,
stationary N(0, 1), entering the credit-cycle index scaled by ``sigma``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from simulator.errors import InputError
from simulator.inputs._toml import Node, root
from simulator.inputs.files import read_toml, resolve

if TYPE_CHECKING:
    from simulator.inputs.model import Model

MAX_HORIZON = 600


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    source: str
    text: str
    horizon: int
    """Default number of months simulated."""
    start: dt.date
    """First day of month 1."""
    phi: float
    sigma: float
    anchors: dict[str, tuple[tuple[int, float], ...]]
    """Per macro variable, (month, value) points in increasing month order."""
    weight: float | None = None
    """Probability of the scenario, for probability-weighted figures (IFRS 9 5.5.17(a))."""
    innovation_mean: tuple[float, ...] = ()
    """The mean of the factor's innovations in months 1, 2, ... (0 beyond): a factor path the
    scenario steers towards (``stress-sim reverse`` writes one); empty: N(0, 1) innovations."""

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(self.anchors)

    def macro_path(self, variable: str, horizon: int) -> np.ndarray:
        """Monthly values of one variable for months 0..horizon (linear, flat beyond the ends)."""
        months, values = zip(*self.anchors[variable], strict=True)
        return np.interp(np.arange(horizon + 1), months, values)


def macro_index(model: Model, scenario: Scenario, horizon: int) -> np.ndarray:
    """The deterministic part of each segment's credit-cycle index for months 1..horizon,
    ``-sum_v beta[g, v] (x[v, t] - x[v, 0]) / scale[v]``, shape (horizon, segments)."""
    index = np.zeros((horizon, len(model.segments)))
    for g, segment in enumerate(model.segments):
        for variable, beta in segment.beta.items():
            x = scenario.macro_path(variable, horizon)
            index[:, g] -= beta * (x[1:] - x[0]) / model.macro_scale[variable]
    return index


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load and validate a scenario file: a shipped name (``adverse``) or a path."""
    path = resolve("scenario", name_or_path)
    data, text = read_toml(path)
    doc = root(data, path).table(
        ["description", "horizon", "start", "factor", "macro", "history", "weight"]
    )
    factor = doc["factor"].table(["phi", "sigma", "innovation_mean"])
    if ("macro" in doc) == ("history" in doc):
        raise doc.fail("expected exactly one of [macro] (anchor points) or [history] (a CSV file)")
    if "macro" in doc:
        anchors = {name: _anchors(node) for name, node in doc["macro"].table().items()}
        if not anchors:
            raise doc["macro"].fail("at least one macro variable is required")
        start = doc["start"].date()
    else:
        history = doc["history"].table(["file", "start"])
        csv_path = (path.parent / history["file"].string()).resolve()
        first_date, anchors = read_history(csv_path)
        # the file's first row is month 0 (the as-of values): month 1 is the month after it
        after_first = dt.date(
            first_date.year + first_date.month // 12, first_date.month % 12 + 1, 1
        )
        start = history["start"].date() if "start" in history else after_first
        if "start" in doc:
            start = doc["start"].date()
    return Scenario(
        name=path.stem,
        description=doc["description"].string() if "description" in doc else "",
        source=str(path),
        text=text,
        horizon=doc["horizon"].integer(1, MAX_HORIZON),
        start=start.replace(day=1),
        phi=factor["phi"].number(-1.0, 1.0, lo_open=True, hi_open=True),
        sigma=factor["sigma"].number(0.0, 10.0),
        anchors=anchors,
        weight=doc["weight"].probability() if "weight" in doc else None,
        innovation_mean=tuple(
            item.number(-10.0, 10.0) for item in factor["innovation_mean"].array()
        )
        if "innovation_mean" in factor
        else (),
    )


def _anchors(node: Node) -> tuple[tuple[int, float], ...]:
    points = []
    for item in node.array(min_length=1):
        pair = item.array(length=2)
        points.append((pair[0].integer(0, MAX_HORIZON), pair[1].number()))
    months = [m for m, _ in points]
    if months[0] != 0:
        raise node.fail("the first point must be at month 0 (the as-of value)")
    if any(a >= b for a, b in itertools.pairwise(months)):
        raise node.fail(f"months must strictly increase, got {months}")
    return tuple(points)


_MONTHLY = re.compile(r"^(\d{4})-(\d{1,2})(?:-\d{1,2})?$")
_QUARTERLY = re.compile(r"^(\d{4})[-\s]?Q([1-4])$", re.IGNORECASE)


def read_history(path: Path) -> tuple[dt.date, dict[str, tuple[tuple[int, float], ...]]]:
    """A historical series as anchor points: a ``date`` column plus one column per variable.

    Dates are ``YYYY-MM`` / ``YYYY-MM-DD`` (monthly) or ``YYYYQn`` (quarterly, placed at the
    quarter's first month); rows must be consecutive periods. Values between are interpolated.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(
            path, convert_options=pacsv.ConvertOptions(column_types={"date": pa.string()})
        )
    except FileNotFoundError:
        raise InputError(path, "history file not found") from None
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(path, f"not a readable CSV file: {err}") from None
    if "date" not in table.column_names or table.num_columns < 2 or table.num_rows < 1:
        raise InputError(path, "expected a 'date' column, at least one variable column, and rows")
    months = [_month_index(str(d), path, row) for row, d in enumerate(table["date"].to_pylist(), 1)]
    steps = set(np.diff(months).tolist())
    if len(steps) > 1 or (steps and steps.pop() not in (1, 3)):
        raise InputError(path, "dates must be consecutive months or consecutive quarters")
    first = months[0]
    start = dt.date(first // 12, first % 12 + 1, 1)
    anchors = {}
    for name in table.column_names:
        if name == "date":
            continue
        values = []
        for row, value in enumerate(table[name].to_pylist(), 1):
            number = _number(value)
            if number is None:
                raise InputError(
                    path, f"row {row}, column {name}: expected a number, got {value!r}"
                )
            values.append(number)
        anchors[name] = tuple((m - first, v) for m, v in zip(months, values, strict=True))
    return start, anchors


def _number(value: object) -> float | None:
    """A finite number from a CSV cell (a column with one bad cell is read as text)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _month_index(text: str, path: Path, row: int) -> int:
    if m := _MONTHLY.match(text.strip()):
        year, month = int(m.group(1)), int(m.group(2))
        if 1 <= month <= 12 and year >= 1:
            return year * 12 + month - 1
    if (m := _QUARTERLY.match(text.strip())) and int(m.group(1)) >= 1:
        return int(m.group(1)) * 12 + (int(m.group(2)) - 1) * 3
    raise InputError(path, f"row {row}, column date: expected YYYY-MM or YYYYQn, got {text!r}")
