"""Every command against every broken input it can be handed.

Each case asserts: exit code 1 or 2, exactly one line on stderr, no traceback, no output
written (the output folder holds nothing new), and the input byte-for-byte unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import make_dataset, sha256
from thermcli.io import write_dataset
from tests.robustness.corpus import CHECKPOINT_CASES, COCO_CASES, DATASET_CASES, IMAGE_CASES, build

# command name → (input kinds it reads, argv builder (broken input, output folder) → argv)
Argv = Callable[[Path, Path, Path], list[str]]  # (broken input, output folder, a valid dataset)
COMMANDS: dict[str, tuple[list[str], Argv]] = {
    "info": (DATASET_CASES, lambda bad, out, good: ["info", str(bad)]),
    "info-pt": (CHECKPOINT_CASES, lambda bad, out, good: ["info", str(bad)]),
    "export-model": (CHECKPOINT_CASES, lambda bad, out, good: ["export-model", str(bad), str(out / "m.onnx")]),
    "import": (
        ["missing", "empty_folder", *COCO_CASES, *IMAGE_CASES],
        lambda bad, out, good: ["import", str(bad), str(out / "x.h5")],
    ),
    "export": (DATASET_CASES, lambda bad, out, good: ["export", str(bad), str(out / "x")]),
    "align": (DATASET_CASES, lambda bad, out, good: ["align", str(bad), str(bad), str(out / "x.h5"), "--auto"]),
    "threshold": (DATASET_CASES, lambda bad, out, good: ["threshold", str(bad), str(out / "x.h5")]),
    "augment": (DATASET_CASES, lambda bad, out, good: ["augment", "--copies", "2", str(bad), str(out / "x.h5")]),
    "merge": (DATASET_CASES, lambda bad, out, good: ["merge", str(bad), str(bad), str(out / "x.h5")]),
    "split": (DATASET_CASES, lambda bad, out, good: ["split", str(bad), str(out / "s"), "--by", "subject"]),
    "train": (
        DATASET_CASES,
        lambda bad, out, good: ["train", str(bad), "--task", "classify", "--epochs", "1", "--out", str(out / "run")],
    ),
    "distill-teacher": (
        CHECKPOINT_CASES,
        lambda bad, out, good: ["distill", str(good), "--task", "classify", "--teacher", str(bad), "--student", "small_cnn", "--out", str(out / "run")],
    ),
    "predict-model": (CHECKPOINT_CASES, lambda bad, out, good: ["predict", str(bad), str(good), str(out / "p.h5")]),
    "eval-model": (CHECKPOINT_CASES, lambda bad, out, good: ["eval", str(bad), str(good)]),
    "roi": (DATASET_CASES, lambda bad, out, good: ["roi", str(bad), str(out / "r"), "--band", "30:37"]),
    "tug": (DATASET_CASES, lambda bad, out, good: ["tug", str(bad), str(out / "t")]),
    "roi-face-model": (CHECKPOINT_CASES, lambda bad, out, good: ["roi", str(good), str(out / "r"), "--anchor", "face",
                                                                 "--face-model", str(bad)]),
    "adapt-source": (DATASET_CASES, lambda bad, out, good: ["adapt", str(bad), str(good), "--out", str(out / "run")]),
    "adapt-target": (DATASET_CASES, lambda bad, out, good: ["adapt", str(good), str(bad), "--out", str(out / "run")]),
    # the data side of the commands that also take a model (a small real one, see `model`)
    "predict-data": (DATASET_CASES, lambda bad, out, good: ["predict", str(good.parent / "model.pt"), str(bad), str(out / "p.h5")]),
    "eval-data": (DATASET_CASES, lambda bad, out, good: ["eval", str(good.parent / "model.pt"), str(bad), "--output", str(out / "m.json")]),
    "eval-predictions": (DATASET_CASES, lambda bad, out, good: ["eval", str(bad), str(good)]),
    "distill-train": (
        DATASET_CASES,
        lambda bad, out, good: ["distill", str(bad), "--task", "classify", "--teacher", str(good.parent / "model.pt"),
                                "--student", "small_cnn", "--out", str(out / "run")],
    ),
    "annotate-video": (DATASET_CASES, lambda bad, out, good: ["annotate", str(bad), str(out / "v.mp4")]),
    "annotate-folder": (DATASET_CASES, lambda bad, out, good: ["annotate", str(bad), str(out / "frames")]),
    "export-png": (DATASET_CASES, lambda bad, out, good: ["export", str(bad), str(out / "x"), "--to", "png"]),
    "threshold-workers": (DATASET_CASES, lambda bad, out, good: ["threshold", str(bad), str(out / "x.h5"), "--workers", "2"]),
    "info-json": (DATASET_CASES, lambda bad, out, good: ["info", str(bad), "--json"]),
}

# Every registered command appears in the table (a new command fails here until it is added);
# synth reads no input file: its bad usage is covered by test_numeric_options.
COVERED = {name.split("-")[0] if name != "export-model" else name for name in COMMANDS} | {"synth"}


def test_every_command_is_in_the_table():
    from thermcli.cli.main import COMMANDS as REGISTERED

    assert set(REGISTERED) <= COVERED, set(REGISTERED) - COVERED


@pytest.fixture(scope="session")
def model(tmp_path_factory):
    """A tiny trained classifier (small_cnn, width 4, one epoch) for the data-side cases."""
    from typer.testing import CliRunner

    from thermcli.cli.main import app

    root = tmp_path_factory.mktemp("corpus-model")
    write_dataset(root / "train.h5", make_dataset(n=12, h=16, w=20))
    result = CliRunner().invoke(app, ["train", str(root / "train.h5"), "--task", "classify", "--arch", "small_cnn",
                                      "--width", "4", "--epochs", "1", "--batch-size", "8", "--out", str(root / "run")])
    assert result.exit_code == 0, result.output
    return root / "run" / "best.pt"

CASES = [(command, case) for command, (cases, _) in COMMANDS.items() for case in cases]


def _snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


@pytest.mark.parametrize("command,case", CASES, ids=[f"{c}-{k}" for c, k in CASES])
def test_broken_input(cli, tmp_path, command, case, monkeypatch, request):
    monkeypatch.chdir(tmp_path)  # a pickled payload would write PWNED here
    inputs = tmp_path / "inputs"
    out = tmp_path / "out"
    out.mkdir()
    bad = build(case, inputs)
    good = inputs / "good.h5"
    write_dataset(good, make_dataset(n=12, h=16, w=20))
    if command in ("predict-data", "eval-data", "distill-train"):
        import shutil

        shutil.copy(request.getfixturevalue("model"), inputs / "model.pt")
    before = sha256(bad) if bad.exists() else None
    result = cli(*COMMANDS[command][1](bad, out, good))
    assert result.exit_code in (1, 2), (result.exit_code, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    # a message, not a bare Python exception ("KeyError: 'x' (run with --verbose ...)")
    assert "(run with --verbose for the traceback)" not in lines[0], lines[0]
    assert bad.name in lines[0] or "--" in lines[0] or "OUT" in lines[0], lines[0]
    assert _snapshot(out) == set(), "output written"
    assert (sha256(bad) if bad.exists() else None) == before
    assert not (tmp_path / "PWNED").exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")], "temporary left behind"


def test_eval_on_multilabel_data_is_a_clean_error(cli, tmp_path):
    import numpy as np

    from tests.conftest import assert_clean_error
    from thermcli.io import Meta

    ds = make_dataset(n=6, h=16, w=20, labels=False)
    ds.meta = Meta(unit="celsius", class_names=["AU1", "AU2"], label_kind="multilabel")
    ds.labels = np.array([[0, 1]] * 6, np.uint8)
    write_dataset(tmp_path / "au.h5", ds)
    preds = make_dataset(n=6, h=16, w=20)
    preds.meta.attrs["predictions"] = {"task": "classify", "model": "m.pt"}
    write_dataset(tmp_path / "pred.h5", preds)
    assert_clean_error(cli("eval", tmp_path / "pred.h5", tmp_path / "au.h5"), 1, "multi-label")


def test_eval_refuses_a_source_that_is_not_predictions(cli, tmp_path):
    """``eval data.h5 data.h5`` scored the ground truth as its own predictions (accuracy 1.0,
    exit 0): a --fail-under gate passed on nothing."""
    from tests.conftest import assert_clean_error

    data = tmp_path / "data.h5"
    write_dataset(data, make_dataset(n=6, h=16, w=20))
    for argv in ([data, data], [data, data, "--fail-under", "accuracy=0.9"], [data, data, "--output", tmp_path / "m.json"]):
        assert_clean_error(cli("eval", *argv), 1, "data.h5", "predictions dataset")
    assert not (tmp_path / "m.json").exists()
    preds = make_dataset(n=6, h=16, w=20)
    preds.meta.attrs["predictions"] = {"task": "classify", "model": "m.pt"}
    write_dataset(tmp_path / "pred.h5", preds)
    assert cli("eval", tmp_path / "pred.h5", data).exit_code == 0
