"""Deterministic generators of sample data (``thermcli synth KIND OUT``).

Each generator is a module in this package that defines::

    KIND = "breathing"                      # the name on the command line
    SUMMARY = "one line for --help"
    def generate(*, seed: int = 0, scale: float = 1.0) -> dict[str, Dataset | dict | str]:
        '''Artifacts by file name ("breathing.h5", "homography.json", "clicks.csv": a str is written as text).
        scale = 1.0 is the committed sample_data size; tests use a small scale.'''

Modules are discovered on first use, so adding a file adds a kind.
"""

from __future__ import annotations

from types import ModuleType


def kinds() -> dict[str, ModuleType]:
    from thermcli.discovery import plugin_modules

    return dict(sorted(plugin_modules("thermcli.synth", "KIND", "generate").items()))
