"""Clean stops on Ctrl-C and SIGTERM (cluster pre-emption).

The first signal only records the request; the work stops at the next check — between
streamed batches (readers, writers, progress loops, training steps) — by raising
KeyboardInterrupt from ordinary code. Raising straight from the signal handler is not safe:
Python swallows an exception raised while the main thread is inside a finaliser or a C callback
(h5py's cleanup, for instance: "Exception ignored in ..."), and the command would run on. Atomic
writes refuse to commit once a stop was requested, so even a loop that never checks cannot leave
an output behind. A second signal raises at once, for the impatient.
"""

from __future__ import annotations

import signal
from typing import Any

_requested = False


def request(signum: int | None = None, frame: Any = None) -> None:
    global _requested
    if _requested:
        raise KeyboardInterrupt
    _requested = True


def requested() -> bool:
    return _requested


def check() -> None:
    """Raise KeyboardInterrupt when a stop was requested (call between units of work)."""
    if _requested:
        raise KeyboardInterrupt


def install() -> None:
    """Route SIGINT and SIGTERM through ``request`` (the console script does this)."""
    signal.signal(signal.SIGINT, request)
    signal.signal(signal.SIGTERM, request)


def reset() -> None:
    global _requested
    _requested = False
