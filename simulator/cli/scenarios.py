"""``stress-sim scenarios``: list, show and check the scenario, policy, model and treasury
files."""

from __future__ import annotations

import json
from pathlib import Path

import click

from simulator.cli.common import debug_option, model_option
from simulator.errors import InputError
from simulator.inputs import files


@click.group()
@debug_option
def scenarios() -> None:
    """List, show and check scenario, policy, model and treasury files."""


@scenarios.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@debug_option
def scenarios_list(as_json: bool) -> None:
    """List the shipped files of every kind, with their descriptions."""
    from simulator.inputs.files import read_toml

    rows = []
    for kind in files.KINDS:
        for name in files.shipped_names(kind):
            data, _ = read_toml(files.resolve(kind, name))
            rows.append({"kind": kind, "name": name, "description": data.get("description", "")})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("kind", "name", "description", title=f"shipped files in {files.shipped_dir()}")
    for row in rows:
        table.add_row(row["kind"], row["name"], row["description"])
    Console().print(table)


@scenarios.command("show")
@click.argument("name")
@click.option("--kind", type=click.Choice(files.KINDS), help="Only files of this kind.")
@debug_option
def scenarios_show(name: str, kind: str | None) -> None:
    """Print a shipped file (its numbers and the comments saying where they come from)."""
    kinds = [kind] if kind else list(files.KINDS)
    found = [k for k in kinds if name in files.shipped_names(k)]  # type: ignore[arg-type]
    if not found:
        raise InputError(None, f"no shipped file named '{name}'; see `stress-sim scenarios list`")
    for k in found:
        path = files.resolve(k, name)  # type: ignore[arg-type]
        click.echo(f"# {k} '{name}' ({path})")
        click.echo(path.read_text(encoding="utf-8"))


@scenarios.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(files.KINDS),
    help="The file's kind (default: guessed from its tables).",
)
@model_option
@debug_option
def scenarios_check(path: Path, kind: str | None, model: str) -> None:
    """Validate a scenario, policy, model or treasury file (names checked against --model)."""
    from simulator.inputs import check_file

    kind, obj = check_file(path, kind, model)  # type: ignore[arg-type]
    click.echo(f"ok: {kind} '{obj.name}' - {obj.description or 'no description'}")


COMMANDS = (scenarios,)
