"""The examples in the library's docstrings run and print what they say (``doctest``).

Only the modules that carry an example (``>>>``) are imported, so the check costs what their
imports cost and no more.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "thermcli"


def _modules_with_examples() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if ">>>" in path.read_text():
            parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            names.append(".".join(parts))
    return names


MODULES = _modules_with_examples()


def test_examples_are_found():
    assert "thermcli.parsing" in MODULES and "thermcli.io.jsonable" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False,
                             report=False)
    assert result.attempted > 0, f"{name} mentions >>> but holds no runnable example"
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed (run: python -m doctest -v)"
