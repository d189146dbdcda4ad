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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator.errors import InputError

if TYPE_CHECKING:
    from simulator.inputs.model import Model
    from simulator.inputs.policy import Policy
    from simulator.inputs.scenario import Scenario
    from simulator.inputs.treasury import Treasury
    from simulator.run import BlockKey, BlockResult

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
_BLOCK = re.compile(r"^block-(\d+)-(\d+)-(\d+)\.npz$")


def _sha256(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def manifest(
    *,
    book_sha256: str,
    model: Model,
    treasury: Treasury,
    scenarios: Sequence[Scenario],
    policies: Sequence[Policy],
    seed: int,
    paths: int,
    horizon: int,
    block_paths: int,
    version: str,
) -> dict[str, Any]:
    """What identifies a run's blocks: equal manifests give equal blocks.

    Files are identified by the SHA-256 of their text; a scenario also by its macro anchor
    points, which may come from a ``[history]`` CSV file that its text only names.
    """
    return {
        "format": FORMAT,
        "simulator_version": version,
        "seed": str(seed),
        "paths": paths,
        "horizon": horizon,
        "block_paths": block_paths,
        "portfolio_sha256": book_sha256,
        "model_sha256": _sha256(model.text),
        "treasury_sha256": _sha256(treasury.text),
        "scenarios": [
            {
                "name": s.name,
                "sha256": _sha256(s.text, repr(sorted(s.anchors.items())), s.start.isoformat()),
            }
            for s in scenarios
        ],
        "policies": [{"name": p.name, "sha256": _sha256(p.text)} for p in policies],
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
    def _block_files(directory: Path) -> Iterable[tuple[BlockKey, Path]]:
        for path in directory.iterdir():
            match = _BLOCK.match(path.name)
            if match:
                s, p, first = (int(g) for g in match.groups())
                yield (s, p, first), path

    def block_path(self, key: BlockKey) -> Path:
        s, p, first = key
        return self.directory / f"block-{s}-{p}-{first}.npz"

    def finished(self) -> set[BlockKey]:
        """The blocks saved so far."""
        return {key for key, _ in self._block_files(self.directory)}

    def load_finished(
        self, keys: Iterable[BlockKey], fits: Callable[[BlockKey, BlockResult], bool]
    ) -> dict[BlockKey, BlockResult]:
        """The saved blocks among ``keys`` that can be read and ``fits`` accepts; a file that
        cannot is logged and left to be computed again."""
        from simulator.run import BlockResult

        out = {}
        saved = self.finished()
        for key in keys:
            if key not in saved:
                continue
            path = self.block_path(key)
            try:
                with np.load(path) as data:
                    result = BlockResult(flows=data["flows"], stocks=data["stocks"], z=data["z"])
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
                log.warning("%s: unreadable (%s); the block will be computed again", path, err)
                continue
            if not fits(key, result):
                log.warning("%s: wrong shape; the block will be computed again", path)
                continue
            out[key] = result
        return out

    def save(self, key: BlockKey, result: BlockResult) -> None:
        """Save a finished block (atomically: a temporary file, then a rename)."""
        self._write(
            self.block_path(key),
            lambda f: np.savez(f, flows=result.flows, stocks=result.stocks, z=result.z),
        )

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
