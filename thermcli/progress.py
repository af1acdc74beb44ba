"""Progress and messages for people, on stderr (rich); silent when stderr is not a terminal.

Stages call ``track`` and ``say``; the CLI decides (``--quiet``) whether anything is shown.
"""

from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def _state():
    from thermcli.cli import state

    return state


def say(message: str) -> None:
    """A short message for people on stderr, unless --quiet."""
    if _state().quiet:
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

    if not _state().interactive():
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
