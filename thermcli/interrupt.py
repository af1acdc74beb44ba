"""Clean stops on Ctrl-C and SIGTERM (cluster pre-emption).

The signal handler records the request *and* raises KeyboardInterrupt. Python can swallow an
exception raised while the main thread is inside a finaliser or a C callback (h5py's cleanup,
for instance: "Exception ignored in ..."), so the flag is what guarantees the outcome: atomic
writes refuse to commit once a stop was requested, and training loops check it between batches.
"""

from __future__ import annotations

import signal
from typing import Any

_requested = False


def request(signum: int | None = None, frame: Any = None) -> None:
    global _requested
    _requested = True
    raise KeyboardInterrupt


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
