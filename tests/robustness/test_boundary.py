"""Validation where data enters: nonsense that was accepted silently (exit 0, output written) or
failed later with a raw exception is now one line naming the file and the field."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from tests.conftest import assert_clean_error, make_dataset, sha256
from thermcli.errors import DataError
from thermcli.io import write_dataset

MALFORMED_PROVENANCE = ['"text"', "[1, 2]", '{"inputs": 5}', '{"inputs": [{"path": 3}]}', '{"inputs": ["x"]}',
                        '{"command": 7}', '{"inputs": [{"path": "a", "provenance": [1]}]}']


@pytest.mark.parametrize("text", MALFORMED_PROVENANCE)
def test_malformed_provenance_in_an_input_is_refused_not_copied(cli, tmp_path, text):
    from thermcli.io.provenance import read_provenance

    src = tmp_path / "in.h5"
    write_dataset(src, make_dataset())
    with h5py.File(src, "a") as fh:
        fh.attrs["provenance"] = text
    before = sha256(src)
    assert_clean_error(cli("info", src), 1, "in.h5", "provenance")
    assert_clean_error(cli("threshold", src, tmp_path / "out.h5"), 1, "in.h5", "provenance")
    assert not (tmp_path / "out.h5").exists() and sha256(src) == before
    assert read_provenance(src) is None  # lineage of an output never copies it


def test_well_formed_provenance_still_reads(cli, tmp_path):
    src = tmp_path / "in.h5"
    write_dataset(src, make_dataset())
    assert cli("threshold", src, tmp_path / "out.h5").exit_code == 0
    assert cli("info", tmp_path / "out.h5").exit_code == 0


def test_png_sidecar_with_an_unknown_encoding_is_refused(cli, tmp_path):
    folder = tmp_path / "png"
    write_dataset(folder, make_dataset())
    doc = json.loads((folder / "thermcli.json").read_text())
    doc["encoding"] = {"type": "millikelvin", "bits": 16}
    (folder / "thermcli.json").write_text(json.dumps(doc))
    assert_clean_error(cli("info", folder), 1, "png", "encoding", "millikelvin")
    assert_clean_error(cli("export", folder, tmp_path / "out"), 1, "encoding")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["a/b", "", ".", ".."])
def test_unusable_column_names_are_refused_before_writing(tmp_path, name):
    data = make_dataset()
    data.columns[name] = np.zeros(len(data), np.float32)
    with pytest.raises(DataError, match="column name"):
        write_dataset(tmp_path / "x.h5", data)
    assert list(tmp_path.iterdir()) == []


def test_roi_person_beyond_the_people_in_the_data(cli, tmp_path):
    src = tmp_path / "pose.h5"
    write_dataset(src, make_dataset(n=6, h=32, w=40, keypoints=True))  # one person slot
    args = ["roi", src, tmp_path / "r", "--anchor", "mouth=disc:nose:3"]
    assert_clean_error(cli(*args, "--person", "99"), 2, "--person", "1 person slot")
    assert not (tmp_path / "r").exists()
    assert cli(*args, "--person", "0").exit_code == 0


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n" + b"\0" * 40], ids=["zero-byte", "truncated"])
def test_unreadable_image_is_one_line_without_opencv_warnings(tmp_path, content):
    """OpenCV's "[ WARN ]" lines (C-level stderr, so through a real process) preceded the error."""
    folder = tmp_path / "cam"
    folder.mkdir()
    (folder / "IR_0001.png").write_bytes(content)
    done = subprocess.run([sys.executable, "-m", "thermcli", "import", str(folder), str(tmp_path / "x.h5")],
                          capture_output=True, text=True, timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert "WARN" not in done.stderr and "IR_0001.png" in lines[0]


def test_yolo_class_id_beyond_the_class_list(cli, tmp_path):
    import cv2

    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    for i in range(2):
        cv2.imwrite(str(images / f"f{i}.png"), np.full((12, 16), 40 * i, np.uint8))
    (labels / "classes.txt").write_text("dog\nperson\n")
    (labels / "f0.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    (labels / "f1.txt").write_text("0 0.5 0.5 0.2 0.2\n5 0.4 0.4 0.1 0.1\n")
    assert_clean_error(cli("import", images, tmp_path / "x.h5", "--yolo", labels), 1, "f1.txt", "line 2", "class id 5")
    assert not (tmp_path / "x.h5").exists()
    (labels / "f1.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    assert cli("import", images, tmp_path / "x.h5", "--yolo", labels).exit_code == 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from typer.testing import CliRunner

    from thermcli.cli.main import app

    root = tmp_path_factory.mktemp("boundary-model")
    write_dataset(root / "train.h5", make_dataset(n=12, h=16, w=20))
    result = CliRunner().invoke(app, ["train", str(root / "train.h5"), "--task", "classify", "--arch", "small_cnn", "--width", "4",
                                      "--epochs", "1", "--batch-size", "8", "--out", str(root / "run")])
    assert result.exit_code == 0, result.output
    return root / "train.h5", root / "run" / "best.pt"


@pytest.mark.parametrize("change", [{"width": -4}, {"num_classes": 10**9}, {"dropout": float("nan")}],
                         ids=["negative-width", "absurd-classes", "nan-dropout"])
def test_checkpoint_with_an_impossible_config(cli, tmp_path, trained, change):
    import torch

    data, best = trained
    payload = torch.load(best, weights_only=True)
    config = json.loads(payload["config"])
    config["model_kwargs"].update(change)
    payload["config"] = json.dumps(config)
    torch.save(payload, tmp_path / "bad.pt")
    key = next(iter(change))
    assert_clean_error(cli("predict", tmp_path / "bad.pt", data, tmp_path / "p.h5"), 1, "bad.pt", key)
    assert_clean_error(cli("eval", tmp_path / "bad.pt", data), 1, "bad.pt", key)
    assert not (tmp_path / "p.h5").exists()
    # as initial weights: the file says it is a model that cannot exist (it was used silently)
    run = tmp_path / "run"
    train = ["train", data, "--task", "classify", "--arch", "small_cnn", "--width", "4", "--epochs", "1", "--out", run]
    assert_clean_error(cli(*train, "--weights", tmp_path / "bad.pt"), 1, "bad.pt", key)
    assert not run.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.pt"]
    assert cli(*train, "--weights", best).exit_code == 0  # the same file, config intact: used
