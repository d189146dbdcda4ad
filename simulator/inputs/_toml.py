"""Reading a parsed TOML document with errors that name the file and the key path.

``Node`` wraps one value of the document together with where it came from; its accessors check
the type and range and raise :class:`~simulator.errors.InputError` saying, for example,
``adverse.toml: macro.unemployment_rate.points[2]: expected [month, value] with month >= 0``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.errors import InputError


def _describe(value: Any) -> str:
    kind = {dict: "a table", list: "an array", bool: "a boolean", str: "a string"}.get(type(value))
    text = repr(value)
    return kind if kind and len(text) > 40 else f"{text}"


@dataclass(frozen=True)
class Node:
    value: Any
    source: Path
    path: str = ""

    # --- errors ---------------------------------------------------------------------------
    def error(self, expected: str) -> InputError:
        where = self.path or "(top level)"
        return InputError(self.source, f"{where}: expected {expected}, got {_describe(self.value)}")

    def fail(self, message: str) -> InputError:
        return InputError(self.source, f"{self.path or '(top level)'}: {message}")

    # --- tables ---------------------------------------------------------------------------
    def _child(self, key: str | int, value: Any) -> Node:
        if isinstance(key, int):
            return Node(value, self.source, f"{self.path}[{key}]")
        return Node(value, self.source, f"{self.path}.{key}" if self.path else key)

    def table(self, allowed: Sequence[str] | None = None) -> Node:
        """Check this is a table; with ``allowed``, reject unknown keys (typos are caught)."""
        if not isinstance(self.value, dict):
            raise self.error("a table")
        if allowed is not None:
            unknown = [k for k in self.value if k not in allowed]
            if unknown:
                child = self._child(unknown[0], self.value[unknown[0]])
                raise child.fail(f"unknown key; expected one of: {', '.join(allowed)}")
        return self

    def __getitem__(self, key: str) -> Node:
        self.table()
        if key not in self.value:
            raise self._child(key, None).fail("missing (required)")
        return self._child(key, self.value[key])

    def get(self, key: str) -> Node | None:
        self.table()
        return self._child(key, self.value[key]) if key in self.value else None

    def __contains__(self, key: str) -> bool:
        return isinstance(self.value, dict) and key in self.value

    def items(self) -> Iterator[tuple[str, Node]]:
        self.table()
        for key, value in self.value.items():
            yield key, self._child(key, value)

    # --- scalars --------------------------------------------------------------------------
    def number(
        self,
        lo: float | None = None,
        hi: float | None = None,
        *,
        lo_open: bool = False,
        hi_open: bool = False,
    ) -> float:
        value = self.value
        if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
            raise self.error(f"a number{_range_text(lo, hi, lo_open, hi_open)}")
        if (lo is not None and (value < lo or (lo_open and value == lo))) or (
            hi is not None and (value > hi or (hi_open and value == hi))
        ):
            raise self.error(f"a number{_range_text(lo, hi, lo_open, hi_open)}")
        return float(value)

    def probability(self) -> float:
        return self.number(0.0, 1.0)

    def integer(self, lo: int | None = None, hi: int | None = None) -> int:
        value = self.value
        ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok or (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.error(f"a whole number{_range_text(lo, hi, False, False)}")
        return int(value)

    def string(self, choices: Sequence[str] | None = None) -> str:
        if not isinstance(self.value, str) or (choices is not None and self.value not in choices):
            expected = "a string" if choices is None else "one of: " + ", ".join(choices)
            raise self.error(expected)
        return self.value

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.error("true or false")
        return self.value

    def date(self) -> dt.date:
        value = self.value
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value if len(value) > 7 else value + "-01")
            except ValueError:
                pass
        raise self.error("a date such as 2027-01-01")

    def array(self, length: int | None = None, min_length: int = 0) -> list[Node]:
        value = self.value
        if (
            not isinstance(value, list)
            or len(value) < min_length
            or (length is not None and len(value) != length)
        ):
            size = f" of {length} items" if length is not None else ""
            size = size or (f" of at least {min_length} items" if min_length else "")
            raise self.error(f"an array{size}")
        return [self._child(i, v) for i, v in enumerate(value)]

    def strings(self, choices: Sequence[str] | None = None) -> tuple[str, ...]:
        items = tuple(item.string(choices) for item in self.array())
        if len(set(items)) != len(items):
            raise self.fail("names must not repeat")
        return items


def _finite(value: float) -> bool:
    """Finite and representable as a float (TOML integers may be arbitrarily large)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _range_text(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f" in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f" {'<' if hi_open else '<='} {hi:g}"
    return ""


def root(data: dict[str, Any], source: Path) -> Node:
    return Node(data, source, "")
