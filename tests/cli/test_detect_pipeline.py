"""Detect models in the pipelines: the compact FCOS trains with --color-jitter, detection
augmentation keeps boxes on their objects, ``align --crop --boxes MODEL.pt`` crops around the
model's detections, and ``annotate --model DETECT.pt --min-score`` draws exactly what ``predict``
finds above the threshold."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.cli.test_detect import people_frames
from tests.conftest import REPO, assert_clean_error

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

TUG = REPO / "sample_data" / "tug"
COMPACT = ["--task", "detect", "--arch", "fcos_mobilenet_v3_small_fpn", "--input-size", "64x64", "--batch-size",
           "4", "--device", "cpu", "--seed", "1"]


@pytest.fixture(scope="module")
def model(tmp_path_factory, cli_module):
    """A compact FCOS trained one epoch on 64×64 warm rectangles (its detections are whatever
    it finds: the tests compare commands against each other, not against the truth)."""
    from thermcli.io import write_dataset

    root = tmp_path_factory.mktemp("detect_pipeline")
    write_dataset(root / "people.h5", people_frames(8))
    write_dataset(root / "val.h5", people_frames(4, seed=1))
    result = cli_module("train", root / "people.h5", *COMPACT, "--val", root / "val.h5", "--epochs", "1",
                        "--color-jitter", "--out", root / "run")
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture(scope="module")
def cli_module():
    from typer.testing import CliRunner

    from thermcli.cli.main import app

    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, [str(a) for a in args])

    return invoke


def test_compact_detector_checkpoint_and_jitter_needs_augment(cli, model, tmp_path):
    config = json.loads((model / "run" / "config.json").read_text())
    assert config["model_kwargs"]["arch"] == "fcos_mobilenet_v3_small_fpn"
    assert config["train_config"]["color_jitter"] is True
    result = cli("train", model / "people.h5", *COMPACT, "--epochs", "1", "--color-jitter", "--no-augment",
                 "--out", tmp_path / "r")
    assert_clean_error(result, 2, "--color-jitter")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("seed", range(12))
def test_augment_boxes_follow_the_pixels(seed):
    """Flip, zoom crop and zoom out: each augmented box lies on its (bright) object, and with no
    box dropped the object pixels outside every box stay dark."""
    from thermcli.stages.train_detect import augment

    rng = np.random.default_rng(seed)
    image = np.zeros((3, 96, 128), np.float32)
    boxes = np.array([[10, 20, 40, 80], [70, 10, 110, 40]], np.float32)
    for x0, y0, x1, y1 in boxes.astype(int):
        image[:, y0:y1, x0:x1] = 1.0
    out, moved, classes = augment(image, boxes, np.array([1, 0]), rng, color_jitter=False)
    assert out.shape == image.shape and out.dtype == np.float32 and len(moved) == len(classes)
    bright = out[0] > 0.5
    inside = np.zeros_like(bright)
    for x0, y0, x1, y1 in moved:
        inside[max(0, int(np.floor(y0)) - 2):int(np.ceil(y1)) + 2, max(0, int(np.floor(x0)) - 2):int(np.ceil(x1)) + 2] = True  # interpolation blurs a zoomed edge
        core = out[0, int(np.ceil(y0)) + 1:int(np.floor(y1)) - 1, int(np.ceil(x0)) + 1:int(np.floor(x1)) - 1]
        assert core.size == 0 or core.mean() > 0.9
    if len(moved) == len(boxes):  # (a crop drops a box keeping < 40 % of its area: its rest may show)
        assert not (bright & ~inside).any()


def test_color_jitter_keeps_boxes_and_range():
    from thermcli.stages.train_detect import augment

    image = np.random.default_rng(0).random((3, 32, 32)).astype(np.float32)
    boxes = np.array([[4, 4, 20, 28]], np.float32)
    changed = 0
    for seed in range(6):
        out, moved, _ = augment(image, boxes, np.array([1]), np.random.default_rng(seed), color_jitter=True)
        assert out.min() >= 0 and out.max() <= 1 and len(moved) == 1
        plain, same, _ = augment(image, boxes, np.array([1]), np.random.default_rng(seed), color_jitter=False)
        np.testing.assert_array_equal(moved, same)  # the jitter draws after the geometry
        changed += not np.allclose(out, plain)
    assert changed >= 5


@pytest.fixture(scope="module")
def tug():
    if not TUG.is_dir():
        pytest.skip("sample_data/tug is not in this checkout")
    return TUG


def test_align_crops_around_the_models_detections(cli, model, tug, tmp_path):
    from thermcli.io import read_dataset
    from thermcli.stages.predict_detect import BoxDetector

    out = tmp_path / "crops.h5"
    result = cli("align", tug / "thermal.h5", tug / "rgb.h5", out, "--transform", tug / "homography.json",
                 "--crop", "64x48", "--boxes", model / "run" / "best.pt", "--min-score", "0.05", "--json")
    report = json.loads(result.stdout) if result.exit_code == 0 else None
    thermal = read_dataset(tug / "thermal.h5")
    found = BoxDetector(model / "run" / "best.pt", min_score=0.05).boxes(thermal.frames, thermal.meta.unit)
    if not sum(len(f) for f in found):  # nothing scores 0.05: the command says so, writes nothing
        assert_clean_error(result, 1, "no person found")
        assert not out.exists()
        return
    assert result.exit_code == 0, result.output
    crops = read_dataset(out)
    assert report["crops"] == len(crops)
    # each crop is centred on one of the detections in its thermal frame
    for row, box in zip(crops.columns["thermal_row"], crops.columns["crop_box"]):
        centres = found[int(row)][:, :2] + found[int(row)][:, 2:] / 2
        assert np.abs(centres - (box[:2] + box[2:] / 2)).sum(1).min() < 1e-3
    paired = np.unique(crops.columns["thermal_row"])
    assert sum(len(found[int(r)]) for r in paired) == len(crops)


def test_align_model_box_errors(cli, model, tug, tmp_path):
    base = ["align", tug / "thermal.h5", tug / "rgb.h5", tmp_path / "o.h5", "--transform", tug / "homography.json",
            "--crop", "64x48"]
    assert_clean_error(cli(*base, "--boxes", "find", "--min-score", "0.3"), 2, "--min-score")
    assert_clean_error(cli(*base, "--boxes", tmp_path / "absent.pt"), 2, "absent.pt")
    torch.save({"not": "a checkpoint"}, tmp_path / "junk.pt")
    result = cli(*base, "--boxes", tmp_path / "junk.pt")
    assert result.exit_code == 1 and "junk.pt" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o.h5").exists()


def test_annotate_detect_model_draws_predict_above_min_score(cli, model, tmp_path):
    import cv2

    from thermcli.io import read_dataset

    pred = tmp_path / "pred.h5"
    assert cli("predict", model / "run" / "best.pt", model / "val.h5", pred).exit_code == 0
    scores = read_dataset(pred).scores
    cut = float(np.nanmedian(scores))
    sheets = {}
    for name, extra in (("model", ["--model", model / "run" / "best.pt"]), ("pred", ["--pred", pred]),
                        ("none", [])):
        for threshold in (0.0, cut):
            out = tmp_path / f"{name}_{threshold}.png"
            result = cli("annotate", model / "val.h5", out, *extra, "--min-score", threshold)
            assert result.exit_code == 0, result.output
            sheets[name, threshold] = cv2.imread(str(out))
    np.testing.assert_array_equal(sheets["model", 0.0], sheets["pred", 0.0])
    np.testing.assert_array_equal(sheets["model", cut], sheets["pred", cut])
    assert not np.array_equal(sheets["model", 0.0], sheets["model", cut])
    # above every score nothing predicted is drawn: the sheet is the ground truth alone
    top = float(np.nanmax(scores)) + 1e-3
    result = cli("annotate", model / "val.h5", tmp_path / "top.png", "--pred", pred, "--min-score", min(top, 1.0))
    assert result.exit_code == 0, result.output
    if top <= 1.0:
        np.testing.assert_array_equal(cv2.imread(str(tmp_path / "top.png")), sheets["none", 0.0])
