"""Where the shipped configuration files live, and how a name or a path becomes a file.

The TOML files ship at the top of the repository in ``scenarios/<kind>/<name>.toml``; a wheel
carries them as ``simulator/scenarios`` (see ``pyproject.toml``). An editable install or a checkout
finds them beside the package instead.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from simulator.errors import InputError

Kind = Literal["model", "scenario", "policy", "treasury"]
KINDS: tuple[Kind, ...] = ("model", "scenario", "policy", "treasury")


def shipped_dir() -> Path:
    """The folder holding the shipped ``model/``, ``scenario/``, ``policy/``, ``treasury/``."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "scenarios"
    return installed if installed.is_dir() else package.parent / "scenarios"


def shipped_names(kind: Kind) -> list[str]:
    """Names of the shipped files of one kind, sorted."""
    return sorted(p.stem for p in (shipped_dir() / kind).glob("*.toml"))


def resolve(kind: Kind, name_or_path: str | Path) -> Path:
    """A shipped name (``adverse``) or a path to a TOML file, as an existing path."""
    text = str(name_or_path)
    looks_like_path = isinstance(name_or_path, Path) or text.endswith(".toml") or "/" in text
    if looks_like_path:
        path = Path(text)
        if not path.is_file():
            raise InputError(path, f"no such {kind} file")
        return path
    path = shipped_dir() / kind / f"{text}.toml"
    if not path.is_file():
        names = ", ".join(shipped_names(kind)) or "none"
        raise InputError(
            None, f"unknown {kind} '{text}': expected a path to a .toml file or one of: {names}"
        )
    return path


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    """Parse a TOML file; returns the data and the exact text (kept for provenance)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(path, f"not UTF-8 text (byte {err.start}): expected a TOML file") from None
    except OSError as err:
        raise InputError(path, f"cannot be read: {err.strerror}") from None
    try:
        return tomllib.loads(text), text
    except ValueError as err:  # TOMLDecodeError, or an integer too long to convert
        raise InputError(path, f"invalid TOML: {err}") from None
    except RecursionError:
        raise InputError(path, "invalid TOML: arrays or tables nested too deeply") from None
