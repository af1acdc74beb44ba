"""The small error hierarchy the library raises; only ``thermcli.cli.main`` maps it to exit codes.

- ``DataError``   (exit 1): an input file is missing, unreadable, or violates the contract;
                  a runtime failure the user can act on.
- ``UsageError``  (exit 2): an option or argument is wrong (``param`` names it).
- ``GateFailed``  (exit 3): a ``--fail-under`` quality gate failed (for CI pipelines).
"""

from __future__ import annotations


class ThermcliError(Exception):
    """Base class: a message meant for people, on one line."""

    exit_code = 1

    def __init__(self, message: str, *, path: str | None = None, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.param = param

    def one_line(self) -> str:
        prefix = ""
        if self.param:
            prefix = f"{self.param}: "
        elif self.path:
            prefix = f"{self.path}: "
        text = f"{prefix}{self.message}"
        return " ".join(text.split())


class DataError(ThermcliError):
    """Bad data or a runtime failure: exit code 1."""

    exit_code = 1


class UsageError(ThermcliError):
    """Bad usage (an option or argument): exit code 2."""

    exit_code = 2


class OutputExistsError(UsageError):
    """The output exists and ``--force`` was not given: exit code 2."""


class GateFailed(ThermcliError):
    """A quality gate (``--fail-under``) failed: exit code 3."""

    exit_code = 3
