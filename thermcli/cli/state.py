"""Process-wide CLI settings set by the global options (-v/--verbose, -q/--quiet)."""

from __future__ import annotations

import os
import sys

verbose: bool = False
quiet: bool = False


def reset() -> None:
    global verbose, quiet
    verbose = bool(os.environ.get("THERMCLI_VERBOSE"))
    quiet = False


def interactive() -> bool:
    """Show progress bars only to a person: stderr is a terminal and not --quiet."""
    return not quiet and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
