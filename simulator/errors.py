"""Errors the user can act on.

Anything wrong with the user's input (a file, a field, a command-line value) is raised as an
:class:`InputError` whose message names the file, the place in it and what was expected. The CLI
prints that one message and exits with status 2; any other exception is an internal error
(status 1).
"""

from __future__ import annotations

from os import PathLike


class InputError(ValueError):
    """Bad input, described in one message that names where the problem is and what was expected."""

    def __init__(self, source: str | PathLike[str] | None, message: str) -> None:
        self.source = None if source is None else str(source)
        self.message = message
        super().__init__(message if source is None else f"{self.source}: {message}")

    def __reduce__(self) -> tuple[type[InputError], tuple[str | None, str]]:
        # pickled with both arguments, so that an error raised on a Dask worker reaches the client
        return type(self), (self.source, self.message)
