"""Plugin modules found by scanning a package: each module that defines a key attribute (its
name, e.g. ``FAMILY``, ``KIND``) and an entry function is one plugin. Adding a module is all it
takes to add a metric family or a sample-data kind."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def plugin_modules(package: str, key: str, entry: str) -> dict[str, ModuleType]:
    """``{module.<key>: module}`` for the modules of ``package`` (not starting with ``_``) that
    define ``key`` and a callable ``entry``."""
    path = importlib.import_module(package).__path__
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(path):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        name = getattr(module, key, None)
        if name and callable(getattr(module, entry, None)):
            found[name] = module
    return found
