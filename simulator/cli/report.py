"""``stress-sim report``: the self-contained HTML report of a results file."""

from __future__ import annotations

from pathlib import Path

import click

from simulator.cli.common import debug_option, write_atomically
from simulator.errors import InputError


@click.command()
@click.argument("results", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the report: a .html file.",
)
@click.option(
    "--format",
    "figure_format",
    type=click.Choice(["png"]),
    help="Also write every figure as a file of this format, in OUT_figures/ beside the report.",
)
@click.option(
    "--baseline",
    metavar="POLICY",
    help="The policy the others are compared with (default: standard if present, else the first).",
)
@debug_option
def report(results: Path, out: Path, figure_format: str | None, baseline: str | None) -> None:
    """Write a self-contained HTML report of RESULTS (a NetCDF file from `run --out`).

    Per scenario: the loss-rate distribution with EL, VaR and ES; the liquidity-buffer fan chart
    with the shortfall probability; delinquency by state over time; the policy comparison with
    paired intervals; the tables behind each figure; and the provenance of the run. Figures are
    inline images: the file reads offline and can be sent as it is.
    """
    import xarray as xr

    from simulator.report import check_results, render_report

    if out.suffix.lower() not in (".html", ".htm"):
        raise InputError(out, "expected an output path ending in .html")
    try:
        with xr.open_dataset(results, engine="h5netcdf") as opened:
            ds = opened.load()
    except Exception as err:
        raise InputError(
            results, f"cannot read it as a results file of `stress-sim run --out` (NetCDF): {err}"
        ) from None
    check_results(ds, results)
    ds.attrs["results_file"] = str(results)
    figures: dict[str, bytes] | None = {} if figure_format else None
    page = render_report(ds, baseline=baseline, figures=figures)

    def write_page(tmp: str) -> None:
        Path(tmp).write_text(page, encoding="utf-8")

    write_atomically(out, write_page)
    click.echo(f"report written to {out}")
    if figures:
        folder = out.with_name(f"{out.stem}_figures")
        for name, png in figures.items():

            def write_png(tmp: str, png: bytes = png) -> None:
                Path(tmp).write_bytes(png)

            write_atomically(folder / name, write_png)
        click.echo(f"{len(figures)} figures written to {folder}/")


COMMANDS = (report,)
