"""``stress-sim report``: the self-contained HTML report of a results file, and its tables as
an Excel workbook."""

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
    "--xlsx",
    "workbook",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report's tables to this Excel workbook (.xlsx), one sheet per table: "
    "caption in row 1, header in row 2, numbers as numbers; an interval is three columns.",
)
@click.option(
    "--baseline",
    metavar="POLICY",
    help="The policy the others are compared with (default: standard if present, else the first).",
)
@debug_option
def report(
    results: Path, out: Path, figure_format: str | None, workbook: Path | None, baseline: str | None
) -> None:
    """Write a self-contained HTML report of RESULTS (a NetCDF file from `run --out`).

    It opens on the answer: per scenario, a sentence naming the policy with the lowest expected
    loss and the one with the highest minimum liquidity buffer, with their paired difference
    from the baseline and whether it is significant, and a table of every policy's expected
    and tail loss (ES 99%), minimum buffer and shortfall probability side by side with their
    differences from the baseline. Then per scenario: the policies' loss distributions and
    liquidity buffers on one chart each, each policy's liquidity fan and delinquency by state
    (the month-by-month tables folded), the policy comparison with paired intervals; and the
    provenance of the run. Figures are inline images: the file reads offline and can be sent as
    it is.
    """
    import xarray as xr

    from simulator.report import check_results, render_report
    from simulator.report.tables import Table, write_workbook

    if out.suffix.lower() not in (".html", ".htm"):
        raise InputError(out, "expected an output path ending in .html")
    if workbook is not None and workbook.suffix.lower() != ".xlsx":
        raise InputError(workbook, "expected a workbook path ending in .xlsx")
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
    tables: list[Table] | None = [] if workbook is not None else None
    page = render_report(ds, baseline=baseline, figures=figures, tables=tables)

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
    if workbook is not None and tables is not None:

        def write_tables(tmp: str, tables: list[Table] = tables) -> None:
            write_workbook(tables, tmp)

        write_atomically(workbook, write_tables)
        click.echo(f"{len(tables)} tables written to {workbook}")


COMMANDS = (report,)
