"""Deterministic generators of sample data (``thermcli synth KIND OUT``).

Each generator is a module in this package that defines::

    KIND = "breathing"                      # the name on the command line
    SUMMARY = "one line for --help"
    def generate(*, seed: int = 0, scale: float = 1.0) -> dict[str, Dataset | dict]:
        '''Artifacts by file name ("breathing.h5", "rgb.h5", "homography.json", ...).
        scale = 1.0 is the committed sample_data size; tests use a small scale.'''

Modules are discovered on first use, so adding a file adds a kind.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def kinds() -> dict[str, ModuleType]:
    import thermcli.synth as package

    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"thermcli.synth.{info.name}")
        kind = getattr(module, "KIND", None)
        if kind and callable(getattr(module, "generate", None)):
            found[kind] = module
    return dict(sorted(found.items()))
