"""Finished blocks on disk, so that an interrupted run can be resumed without losing work.

A run directory (the CLI puts it beside the output: ``results.nc.blocks/``) holds
``manifest.json``, which says what the run is (digests of the portfolio and of every input file,
the seed, paths, horizon and block size), and one ``.npz`` file per finished block, named by its
(scenario index, policy index, first path). Every file is written to a temporary name and renamed,
so a run killed at any moment leaves only whole files. A resumed run reads the manifest, refuses
if the inputs changed, and reuses the blocks that are there; the engine and the number of
threads or workers may change, since results do not depend on them.

Blocks are written by the process that runs ``simulate`` (the Dask client), never by workers, so
a cluster needs no shared file system.

The store takes plain data: a manifest is a dict of strings and numbers, a block a key of three
ints and a dict of named arrays. It knows nothing of the model or of the run's classes
(``simulator.run.execute`` is the glue).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simulator.errors import InputError

log = logging.getLogger(__name__)

FORMAT = 2
MANIFEST = "manifest.json"
_BLOCK = re.compile(r"^block-(\d+)-(\d+)-(\d+)\.npz$")

Key = tuple[int, int, int]
"""A block's key: (scenario index, policy index, first path)."""
Arrays = dict[str, np.ndarray]
"""A block's arrays, by name."""


def _sha256(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def manifest(
    *,
    book_sha256: str,
    model_text: str,
    treasury_text: str,
    scenarios: Sequence[tuple[str, Sequence[str]]],
    policies: Sequence[tuple[str, Sequence[str]]],
    seed: int,
    paths: int,
    horizon: int,
    block_paths: int,
    version: str,
    tail: str = "",
) -> dict[str, Any]:
    """What identifies a run's blocks: equal manifests give equal blocks.

    Each input is identified by the SHA-256 of its texts: a file's text, and for each scenario
    and policy, given as ``(name, texts)``, whatever else decides its numbers (a scenario's
    macro anchor points may come from a ``[history]`` CSV file that its text only names).
    """
    return {
        "format": FORMAT,
        "simulator_version": version,
        "seed": str(seed),
        "paths": paths,
        "horizon": horizon,
        "block_paths": block_paths,
        "portfolio_sha256": book_sha256,
        "model_sha256": _sha256(model_text),
        "treasury_sha256": _sha256(treasury_text),
        "scenarios": [{"name": name, "sha256": _sha256(*texts)} for name, texts in scenarios],
        "policies": [{"name": name, "sha256": _sha256(*texts)} for name, texts in policies],
        "tail_sha256": _sha256(tail),
    }


_WHAT = {
    "format": "the run directory's format",
    "simulator_version": "the simulator version",
    "seed": "the seed",
    "paths": "the number of paths",
    "horizon": "the horizon",
    "block_paths": "the paths per block",
    "portfolio_sha256": "the portfolio",
    "model_sha256": "the model file",
    "treasury_sha256": "the treasury file",
    "scenarios": "the scenarios or their files",
    "policies": "the policies or their files",
    "tail_sha256": "the tail sampling (target, level, defensive share or shift)",
}


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What changed between two manifests, in words (empty if nothing did)."""
    out = []
    for key in sorted(
        set(old) | set(new), key=lambda k: list(_WHAT).index(k) if k in _WHAT else 99
    ):
        if old.get(key) == new.get(key):
            continue
        what = _WHAT.get(key, key)
        if key in ("scenarios", "policies"):
            before = [item.get("name") for item in old.get(key, [])]
            after = [item.get("name") for item in new.get(key, [])]
            detail = f" ({', '.join(before)} -> {', '.join(after)})" if before != after else ""
            out.append(f"{what}{detail}")
        elif key.endswith("sha256"):
            out.append(what)
        else:
            out.append(f"{what} ({old.get(key)} -> {new.get(key)})")
    return out


@dataclass
class RunStore:
    """A run directory: the manifest and the finished blocks of one run."""

    directory: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, directory: Path, manifest: dict[str, Any], *, resume: bool) -> RunStore:
        """Create the directory, or take up an existing one (only with ``resume``, and only if
        its manifest equals ``manifest``); raise :class:`InputError` otherwise."""
        path = directory / MANIFEST
        if directory.is_dir() and all(p.match(".*.tmp") for p in directory.iterdir()):
            shutil.rmtree(directory)  # empty, or a run killed while writing its manifest
        if directory.exists():
            try:
                old = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                raise InputError(
                    directory,
                    f"not a readable run directory ({err}); remove it to start afresh",
                ) from None
            blocks = sum(1 for _ in cls._block_files(directory))
            changed = differences(old, manifest)
            if changed:
                advice = (
                    "cannot resume: the inputs differ from those of the interrupted run"
                    if resume
                    else "holds finished blocks of an interrupted run of other inputs"
                )
                raise InputError(
                    directory,
                    f"{advice} ({blocks} blocks; changed: {'; '.join(changed)}). Remove the "
                    "directory to start afresh, or rerun with the original inputs and --resume",
                )
            if not resume:
                raise InputError(
                    directory,
                    f"holds {blocks} finished blocks of an interrupted run of the same inputs: "
                    "pass --resume (resume=True) to reuse them, or remove the directory to "
                    "start afresh",
                )
            store = cls(directory, manifest)
            store._remove_temporaries()
            return store
        directory.mkdir(parents=True)
        store = cls(directory, manifest)
        store._write(path, lambda f: f.write(json.dumps(manifest, indent=2).encode("utf-8")))
        return store

    @staticmethod
    def _block_files(directory: Path) -> Iterable[tuple[Key, Path]]:
        for path in directory.iterdir():
            match = _BLOCK.match(path.name)
            if match:
                s, p, first = (int(g) for g in match.groups())
                yield (s, p, first), path

    def block_path(self, key: Key) -> Path:
        s, p, first = key
        return self.directory / f"block-{s}-{p}-{first}.npz"

    def finished(self) -> set[Key]:
        """The blocks saved so far."""
        return {key for key, _ in self._block_files(self.directory)}

    def load_finished(
        self, keys: Iterable[Key], names: Sequence[str], fits: Callable[[Key, Arrays], bool]
    ) -> dict[Key, Arrays]:
        """The saved blocks among ``keys`` that can be read, hold the arrays ``names`` and
        that ``fits`` accepts; a file that cannot is logged and left to be computed again."""
        out = {}
        saved = self.finished()
        for key in keys:
            if key not in saved:
                continue
            path = self.block_path(key)
            try:
                with np.load(path) as data:
                    result = {name: data[name] for name in names}
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
                log.warning("%s: unreadable (%s); the block will be computed again", path, err)
                continue
            if not fits(key, result):
                log.warning("%s: wrong shape; the block will be computed again", path)
                continue
            out[key] = result
        return out

    def save(self, key: Key, arrays: Mapping[str, np.ndarray]) -> None:
        """Save a finished block (atomically: a temporary file, then a rename)."""
        named: dict[str, Any] = dict(arrays)
        self._write(self.block_path(key), lambda f: np.savez(f, **named))

    def _write(self, path: Path, write: Callable[[Any], object]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _remove_temporaries(self) -> None:
        """Half-written files left by a run that was killed while writing."""
        for path in self.directory.glob(".*.tmp"):
            path.unlink(missing_ok=True)
