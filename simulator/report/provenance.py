"""The provenance, last in the report: the run's settings (seed, paths, horizon, engine,
version, creation time, the portfolio's source and SHA-256) and the text of every input file,
so that the run can be reproduced."""

from __future__ import annotations

from collections.abc import Iterator
from html import escape

from simulator.report.context import Context, joined
from simulator.report.tables import CellLike, Table
from simulator.variables import POLICY, SCENARIO

PROVENANCE = (
    "title",
    "simulator_version",
    "created",
    "seed",
    "paths",
    "horizon",
    "engine",
    "portfolio_source",
    "portfolio_sha256",
    "portfolio_loans",
    "units",
)
"""The attributes of the results shown in the table of the run, in this order."""


@joined
def section(ctx: Context) -> Iterator[str]:
    ds, keep = ctx.ds, ctx.keep
    yield '<section id="provenance"><h2>Provenance</h2>'
    rows: list[list[CellLike]] = [
        [key, str(ds.attrs[key])] for key in PROVENANCE if key in ds.attrs
    ]
    rows += [
        ["scenarios", ", ".join(map(str, ds[SCENARIO].values))],
        ["policies", ", ".join(map(str, ds[POLICY].values))],
    ]
    if "results_file" in ds.attrs:
        rows.append(["results file", str(ds.attrs["results_file"])])
    yield keep(Table("provenance", "Run", ["setting", "value"], rows))
    yield (
        '<p class="note">The same inputs and seed give the same results, whatever the engine, '
        "threads or cluster. The input files as they were read:</p>"
    )
    for key, value in ds.attrs.items():
        if key.endswith("_file") or key.startswith(("scenario_file_", "policy_file_")):
            if key == "results_file":
                continue
            label = key.replace("_file_", " file: ").replace("_file", " file")
            yield (
                f"<details><summary>{escape(label)}</summary>"
                f"<pre>{escape(str(value))}</pre></details>"
            )
    yield "</section>"
