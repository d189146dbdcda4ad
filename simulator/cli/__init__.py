"""The ``stress-sim`` command line: thin wrappers over the library.

One module per command group, each command's options beside its code: :mod:`.run` (``run``,
``compare``), :mod:`.portfolio`, :mod:`.scenarios`, :mod:`.report` and :mod:`.calibrate`
(``calibrate``, ``backtest``), :mod:`.reverse`; what they share (options,
tables, the progress bar, atomic writes) is in :mod:`.common`. This module holds the ``main``
group, the error boundary and the warnings handler, and registers the command groups: a new
group is a new module that lists its commands in ``COMMANDS``, named once in ``GROUPS`` below.

Domain errors (:class:`~simulator.errors.InputError`) become one message and exit status 2;
anything else is an internal error, exit status 1. ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import logging
from typing import Any

import click

from simulator import __version__
from simulator.cli import calibrate, comparison, portfolio, report, reverse, run, scenarios
from simulator.cli.common import debug_option, debug_requested
from simulator.errors import InputError

log = logging.getLogger("simulator")

GROUPS = (run, comparison, portfolio, scenarios, report, calibrate, reverse)
"""The command modules (one per command group); each lists its click commands in ``COMMANDS``."""


class _EchoHandler(logging.Handler):
    """Prints the package's warnings as ``warning: ...`` on the *current* standard error.

    The stream is looked up for each record (``logging.basicConfig`` would keep the stream of
    the first call), so in-process runners such as click's ``CliRunner`` capture the warnings.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(f"{record.levelname.lower()}: {record.getMessage()}", err=True)
        except Exception:
            self.handleError(record)


class BadInput(click.ClickException):
    exit_code = 2


class _Group(click.Group):
    """Turns library errors into clean exits at the boundary (for every command below it)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InputError as err:
            if debug_requested(ctx):
                raise
            raise BadInput(str(err)) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as err:
            if debug_requested(ctx):
                raise
            click.echo(
                f"internal error: {type(err).__name__}: {err} (run with --debug for the traceback)",
                err=True,
            )
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stress-sim")
@debug_option
def main() -> None:
    """Monte Carlo stress simulator for consumer and small-business instalment credit.

    Simulates borrower repayment paths month by month under macro scenarios and post-loan
    policies, and reports the distribution of credit losses and liquidity. Start with
    `stress-sim scenarios list` to see the shipped scenario, policy, model and treasury files,
    and `stress-sim portfolio synth 100000 --out book.parquet` for a test book.
    """
    if not any(isinstance(h, _EchoHandler) for h in log.handlers):
        log.addHandler(_EchoHandler(logging.WARNING))


for _group in GROUPS:
    for _command in _group.COMMANDS:
        main.add_command(_command)
