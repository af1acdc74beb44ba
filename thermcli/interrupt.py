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
import threading
from typing import Any

_requested = False
_cancelled: set[int] = set()  # idents of helper threads told to stop (see ``cancel_thread``)


def request(signum: int | None = None, frame: Any = None) -> None:
    global _requested
    if _requested:
        raise KeyboardInterrupt
    _requested = True


def requested() -> bool:
    return _requested


def check() -> None:
    """Raise KeyboardInterrupt when a stop was requested (call between units of work), or when
    the calling helper thread was cancelled (``cancel_thread``)."""
    if _requested or (_cancelled and threading.get_ident() in _cancelled):
        raise KeyboardInterrupt


def cancel_thread(ident: int | None) -> None:
    """Make ``check()`` raise in the thread ``ident`` (a helper whose result is no longer wanted:
    its command failed), so it can be joined at once instead of left running into the
    interpreter's shutdown."""
    if ident is not None:
        _cancelled.add(ident)


def forget_thread(ident: int | None) -> None:
    _cancelled.discard(ident)


def install() -> None:
    """Route SIGINT and SIGTERM through ``request`` (the console script does this)."""
    signal.signal(signal.SIGINT, request)
    signal.signal(signal.SIGTERM, request)


def reset() -> None:
    global _requested
    _requested = False
