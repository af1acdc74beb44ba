"""Progress and messages for people, on stderr (rich); silent when stderr is not a terminal.

Stages call ``track`` and ``say``; the CLI decides (``--quiet``) whether anything is shown: it
sets the process-wide ``quiet`` and ``verbose`` flags held here (``thermcli.cli.state`` forwards
to them).
"""

from __future__ import annotations

import os
import sys
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")

verbose: bool = False  # -v/--verbose: tracebacks and more detail on errors
quiet: bool = False  # -q/--quiet: no progress or messages, only errors


def reset() -> None:
    """Back to the defaults (``THERMCLI_VERBOSE`` in the environment turns ``verbose`` on)."""
    global verbose, quiet
    verbose = bool(os.environ.get("THERMCLI_VERBOSE"))
    quiet = False


def interactive() -> bool:
    """Show progress bars only to a person: stderr is a terminal and not --quiet."""
    return not quiet and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


def say(message: str) -> None:
    """A short message for people on stderr, unless --quiet."""
    if quiet:
        return
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(message)


def warn(message: str) -> None:
    """A warning on stderr (shown even with --quiet: warnings matter)."""
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[yellow]warning:[/yellow] {message}")


def track(iterable: Iterable[T], *, total: int | None = None, description: str = "") -> Iterator[T]:
    """Iterate with a rich progress bar when a person is watching."""
    from thermcli import interrupt

    if not interactive():
        for item in iterable:
            interrupt.check()
            yield item
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(transient=True, console=Console(stderr=True)) as progress:
        task = progress.add_task(description, total=total)
        for item in iterable:
            interrupt.check()
            yield item
            progress.advance(task)
