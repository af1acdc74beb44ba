"""OUT that resolves to an input (the same file or folder, through a symlink, or a folder that
holds it) is refused by every writer, even with --force: exit 2 naming the output, the input
byte-identical, nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import make_dataset, sha256
from thermcli.io import write_dataset


@pytest.fixture
def inputs(tmp_path):
    """An HDF5 dataset, a PNG-folder dataset inside a folder, and a stand-in model file."""
    data = tmp_path / "data.h5"
    write_dataset(data, make_dataset(n=8, h=16, w=20, keypoints=True))
    png = tmp_path / "sets" / "png"
    png.parent.mkdir()
    write_dataset(png, make_dataset(n=4, h=16, w=20))
    model = tmp_path / "model.pt"
    model.write_bytes(b"not read: the output is refused first")
    return data, png, model


def _link(tmp_path: Path, target: Path, name: str) -> Path:
    link = tmp_path / name
    os.symlink(target, link)
    return link


# writer → argv builder (tmp_path, data.h5, PNG folder, model) → argv whose output is an input
WRITERS = {
    "threshold": lambda t, d, p, m: ["threshold", d, d],
    "threshold-symlink": lambda t, d, p, m: ["threshold", d, _link(t, d, "alias.h5")],
    "threshold-png": lambda t, d, p, m: ["threshold", p, p],
    "augment": lambda t, d, p, m: ["augment", d, d],
    "augment-symlink-folder": lambda t, d, p, m: ["augment", p, _link(t, p, "alias")],
    "merge": lambda t, d, p, m: ["merge", d, d],
    "merge-second": lambda t, d, p, m: ["merge", p, d, d],
    "export": lambda t, d, p, m: ["export", p, p],
    "export-parent": lambda t, d, p, m: ["export", p, p.parent],
    "split": lambda t, d, p, m: ["split", p, p, "--by", "subject"],
    "split-parent": lambda t, d, p, m: ["split", p, p.parent, "--by", "subject"],
    "align": lambda t, d, p, m: ["align", d, d, d, "--auto"],
    "import": lambda t, d, p, m: ["import", p, p],
    "predict": lambda t, d, p, m: ["predict", m, d, d],
    "annotate": lambda t, d, p, m: ["annotate", p, p],
    "roi": lambda t, d, p, m: ["roi", p, p, "--band", "30:37"],
    "roi-parent": lambda t, d, p, m: ["roi", p, p.parent, "--band", "30:37"],
    "tug": lambda t, d, p, m: ["tug", d, d],
    "eval-output": lambda t, d, p, m: ["eval", d, p, "--output", d],
    "export-model": lambda t, d, p, m: ["export-model", m, _link(t, m, "model.onnx")],
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_output_that_is_an_input_is_refused_even_with_force(cli, tmp_path, inputs, writer):
    data, png, model = inputs
    argv = [str(a) for a in WRITERS[writer](tmp_path, data, png, model)]
    before = {path: sha256(path) for path in (data, png, model)}
    listing = sorted(str(p) for p in tmp_path.rglob("*"))
    result = cli(*argv, "--force")
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.stderr
    assert "is the input" in lines[0] or "holds the input" in lines[0], lines[0]
    assert "--force never replaces an input" in lines[0]
    assert {path: sha256(path) for path in (data, png, model)} == before
    assert sorted(str(p) for p in tmp_path.rglob("*")) == listing, "something was written"


def test_an_output_beside_the_input_is_still_written(cli, tmp_path, inputs):
    """The check compares resolved paths: a sibling with a similar name is not an input."""
    data, _, _ = inputs
    assert cli("threshold", data, tmp_path / "data.h5.out.h5").exit_code == 0
    assert cli("threshold", data, tmp_path / "sets" / ".." / "copy.h5").exit_code == 0


def test_commit_refuses_an_input_opened_during_the_work(tmp_path):
    """Inputs a stage opens itself (not named to check_output) are guarded at commit time."""
    from thermcli.errors import UsageError
    from thermcli.io import atomic_path, open_dataset
    from thermcli.io.atomic import guard_inputs

    data = tmp_path / "data.h5"
    write_dataset(data, make_dataset())
    before = sha256(data)
    guard_inputs(True)
    try:
        with open_dataset(data):
            pass
        with pytest.raises(UsageError, match="is the input"):
            with atomic_path(_link(tmp_path, data, "alias.h5"), force=True) as tmp:
                tmp.write_bytes(b"x")
    finally:
        guard_inputs(False)
    assert sha256(data) == before
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]
