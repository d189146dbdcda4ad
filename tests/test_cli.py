"""The ``stress-sim`` command line (SPEC 7) beyond the portfolio commands.

Covers: ``--help`` on every command and group; ``--version``; ``scenarios list`` (table and
JSON), ``show`` and ``check`` on the shipped files; ``python -m simulator``; the exit-status
contract (2 for bad input, 1 for an internal error, no traceback) and ``--debug`` letting the
exception through; and, marked slow, a non-editable install from a wheel that still finds the
shipped files (inside the installed package, not the repository).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from simulator import __version__
from simulator.cli import main
from simulator.errors import InputError
from simulator.inputs.files import KINDS, resolve, shipped_names

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED = [(kind, name) for kind in KINDS for name in shipped_names(kind)]


def command_paths(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and group under ``command``, as argument lists."""
    yield path
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from command_paths(sub, (*path, name))


COMMANDS = list(command_paths(main))


def test_the_commands_of_spec_7_exist():
    assert {
        ("portfolio",),
        ("portfolio", "synth"),
        ("portfolio", "check"),
        ("scenarios",),
        ("scenarios", "list"),
        ("scenarios", "show"),
        ("scenarios", "check"),
    } <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "stress-sim")
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(cli, path, flag):
    result = cli(*path, flag)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")
    command = main
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    assert command.help, f"{' '.join(path)} has no help text"
    assert command.help.split("\n")[0].strip() in " ".join(result.output.split())


def test_version(cli):
    with open(REPO_ROOT / "pyproject.toml", "rb") as f:
        declared = tomllib.load(f)["project"]["version"]
    assert __version__ == declared
    result = cli("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"stress-sim, version {declared}"


def test_public_api_of_spec_7_imports_without_compiling():
    """SPEC 7's functions import from the package; the engines load only when a run needs them."""
    probe = (
        "import sys, simulator\n"
        "heavy = {'numba', 'xarray'} & set(sys.modules)\n"
        "from simulator import (load_portfolio, load_scenario, load_policy, load_model,\n"
        "    load_treasury, simulate, summarize, compare)\n"
        "assert callable(simulate) and callable(summarize) and callable(compare), simulate\n"
        "print(sorted(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_no_command_prints_usage(cli):
    result = cli()
    assert "Usage: " in result.output
    assert "portfolio" in result.output
    assert "scenarios" in result.output


def test_unknown_command_is_bad_usage(cli):
    result = cli("frobnicate")
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_scenarios_list(cli):
    result = cli("scenarios", "list")
    assert result.exit_code == 0, result.output
    for kind, name in SHIPPED:
        assert kind in result.output
        assert name in result.output


def test_scenarios_list_json(cli):
    result = cli("scenarios", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert sorted((r["kind"], r["name"]) for r in rows) == sorted(SHIPPED)
    for row in rows:
        with open(resolve(row["kind"], row["name"]), "rb") as f:
            assert row["description"] == tomllib.load(f)["description"]


def test_scenarios_show(cli):
    result = cli("scenarios", "show", "adverse")
    assert result.exit_code == 0, result.output
    assert resolve("scenario", "adverse").read_text(encoding="utf-8") in result.output


def test_scenarios_show_every_kind_of_a_shared_name(cli):
    """``default`` is both a model and a treasury; ``--kind`` picks one."""
    both = cli("scenarios", "show", "default")
    assert both.exit_code == 0
    assert "# model 'default'" in both.output
    assert "# treasury 'default'" in both.output
    one = cli("scenarios", "show", "default", "--kind", "treasury")
    assert "# model 'default'" not in one.output
    assert resolve("treasury", "default").read_text(encoding="utf-8") in one.output


def test_scenarios_show_unknown(cli, bad_input):
    bad_input(cli("scenarios", "show", "nope"), "no shipped file named 'nope'", "scenarios list")


@pytest.mark.parametrize(("kind", "name"), SHIPPED)
def test_scenarios_check_shipped(cli, kind, name):
    result = cli("scenarios", "check", resolve(kind, name))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"ok: {kind} '{name}'")


def test_scenarios_check_missing_file(cli, bad_input, tmp_path):
    bad_input(cli("scenarios", "check", tmp_path / "absent.toml"), "absent.toml")


def test_scenarios_check_with_explicit_kind(cli, bad_input):
    """A policy checked as a scenario fails: its tables are not a scenario's."""
    path = resolve("policy", "standard")
    result = cli("scenarios", "check", path, "--kind", "scenario")
    bad_input(result, "standard.toml", "collections: unknown key")


def test_python_dash_m(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Usage: " in result.stdout
    assert "scenarios" in result.stdout


def test_python_dash_m_bad_input_exit_status(tmp_path):
    """Outside the in-process runner too: status 2, one line, no traceback."""
    bad = tmp_path / "loans.csv"
    bad.write_text("loan_id\n1\n")
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "portfolio", "check", str(bad)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "loans.csv" in result.stderr
    assert "missing required column(s)" in result.stderr


@pytest.fixture
def bad_tape(tmp_path: Path) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text("loan_id,segment,score,principal,annual_rate,remaining_term\n1,x,700,1,0,1\n")
    return path


@pytest.mark.parametrize(
    "args",
    [
        ("--debug", "portfolio", "check"),
        ("portfolio", "--debug", "check"),
        ("portfolio", "check", "--debug"),
    ],
)
def test_debug_lets_the_error_through(cli, bad_tape, args):
    assert cli("portfolio", "check", bad_tape).exit_code == 2  # without --debug
    result = cli(*args, bad_tape)
    assert isinstance(result.exception, InputError)
    assert result.exit_code != 2
    with pytest.raises(InputError, match="row 1, segment"):
        cli(*args, bad_tape, catch_exceptions=False)


def test_debug_on_a_bad_config_file(cli, tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("x = = 1\n")
    assert cli("scenarios", "check", path).exit_code == 2
    with pytest.raises(InputError, match="invalid TOML"):
        cli("--debug", "scenarios", "check", path, catch_exceptions=False)


def test_internal_error_is_exit_status_1(cli, monkeypatch, small_book_csv):
    def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("simulator.inputs.portfolio.load_portfolio", broken)
    result = cli("portfolio", "check", small_book_csv)
    assert result.exit_code == 1
    assert "internal error: RuntimeError: boom" in result.output
    assert "--debug" in result.output
    assert "Traceback" not in result.output
    with pytest.raises(RuntimeError, match="boom"):
        cli("--debug", "portfolio", "check", small_book_csv, catch_exceptions=False)


# --- a non-editable install -----------------------------------------------------------------


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    env |= kwargs.pop("env", {})
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, **kwargs)


@pytest.mark.slow
def test_non_editable_install_finds_the_shipped_files(tmp_path):
    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(wheels)]
    # Without build isolation when the build backend is already installed (offline); otherwise
    # let pip fetch hatchling into an isolated build environment.
    built = run([*build, "--no-build-isolation", str(REPO_ROOT)])
    if built.returncode != 0:
        assert "hatchling" in built.stdout + built.stderr, built.stderr
        built = run([*build, str(REPO_ROOT)])
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheels.glob("simulator-*.whl")

    with zipfile.ZipFile(wheel) as archive:
        contents = set(archive.namelist())
    shipped = sorted(REPO_ROOT.glob("scenarios/*/*.toml"))
    assert len(shipped) == len(SHIPPED)
    for path in shipped:
        assert f"simulator/scenarios/{path.parent.name}/{path.name}" in contents
    assert "simulator/scenarios/policy/standard.toml" in contents
    assert "simulator/cli/__init__.py" in contents

    target = tmp_path / "site"
    installed = run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)]
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PYTHONPATH": str(target)}
    listed = run(
        [sys.executable, "-m", "simulator", "scenarios", "list", "--json"], cwd=elsewhere, env=env
    )
    assert listed.returncode == 0, listed.stderr
    names = {(row["kind"], row["name"]) for row in json.loads(listed.stdout)}
    assert names == set(SHIPPED)

    probe = (
        "import json, simulator\n"
        "from simulator.inputs.files import shipped_dir\n"
        "from simulator import load_policy, load_scenario, load_model, load_treasury\n"
        "print(json.dumps({'package': simulator.__file__, 'dir': str(shipped_dir()),\n"
        "    'files': [load_policy('standard').source, load_scenario('adverse').source,\n"
        "              load_model('default').source, load_treasury('default').source]}))\n"
    )
    probed = run([sys.executable, "-c", probe], cwd=elsewhere, env=env)
    assert probed.returncode == 0, probed.stderr
    where = json.loads(probed.stdout)
    resolved_target = target.resolve()
    for path in [where["package"], where["dir"], *where["files"]]:
        assert Path(path).resolve().is_relative_to(resolved_target), path
        assert not Path(path).resolve().is_relative_to(REPO_ROOT), path
