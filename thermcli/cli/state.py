"""Process-wide CLI settings set by the global options (-v/--verbose, -q/--quiet).

The flags live in ``thermcli.progress`` (below the CLI, where stages read them); this module
forwards reads and writes to it, so ``state.quiet = True`` here sets ``progress.quiet``.
"""

from __future__ import annotations

import sys
import types

from thermcli import progress

_FLAGS = ("verbose", "quiet")
reset = progress.reset
interactive = progress.interactive


class _ForwardingModule(types.ModuleType):
    def __getattr__(self, name: str):  # only names not set on the module: the flags
        if name in _FLAGS:
            return getattr(progress, name)
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")

    def __setattr__(self, name: str, value) -> None:
        if name in _FLAGS:
            setattr(progress, name, value)
        else:
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = _ForwardingModule
