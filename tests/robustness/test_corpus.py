"""Every command against every broken input it can be handed.

Each case asserts: exit code 1 or 2, exactly one line on stderr, no traceback, no output
written (the output folder holds nothing new), and the input byte-for-byte unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import sha256
from tests.robustness.corpus import CHECKPOINT_CASES, COCO_CASES, DATASET_CASES, IMAGE_CASES, build

# command name → (input kinds it reads, argv builder (broken input, output folder) → argv)
Argv = Callable[[Path, Path], list[str]]
COMMANDS: dict[str, tuple[list[str], Argv]] = {
    "info": (DATASET_CASES, lambda bad, out: ["info", str(bad)]),
    "info-pt": (CHECKPOINT_CASES, lambda bad, out: ["info", str(bad)]),
    "export-model": (CHECKPOINT_CASES, lambda bad, out: ["export-model", str(bad), str(out / "m.onnx")]),
    "import": (
        ["missing", "empty_folder", *COCO_CASES, *IMAGE_CASES],
        lambda bad, out: ["import", str(bad), str(out / "x.h5")],
    ),
    "export": (DATASET_CASES, lambda bad, out: ["export", str(bad), str(out / "x")]),
    "align": (DATASET_CASES, lambda bad, out: ["align", str(bad), str(bad), str(out / "x.h5"), "--auto"]),
    "threshold": (DATASET_CASES, lambda bad, out: ["threshold", str(bad), str(out / "x.h5")]),
    "augment": (DATASET_CASES, lambda bad, out: ["augment", "--copies", "2", str(bad), str(out / "x.h5")]),
    "merge": (DATASET_CASES, lambda bad, out: ["merge", str(bad), str(bad), str(out / "x.h5")]),
}

CASES = [(command, case) for command, (cases, _) in COMMANDS.items() for case in cases]


def _snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


@pytest.mark.parametrize("command,case", CASES, ids=[f"{c}-{k}" for c, k in CASES])
def test_broken_input(cli, tmp_path, command, case, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a pickled payload would write PWNED here
    inputs = tmp_path / "inputs"
    out = tmp_path / "out"
    out.mkdir()
    bad = build(case, inputs)
    before = sha256(bad) if bad.exists() else None
    result = cli(*COMMANDS[command][1](bad, out))
    assert result.exit_code in (1, 2), (result.exit_code, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert bad.name in lines[0] or "--" in lines[0] or "OUT" in lines[0], lines[0]
    assert _snapshot(out) == set(), "output written"
    assert (sha256(bad) if bad.exists() else None) == before
    assert not (tmp_path / "PWNED").exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")], "temporary left behind"
