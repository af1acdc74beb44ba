"""train/distill --task keypoints, eval --metric oks, annotate: end to end through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import assert_clean_error
from tests.stages.pose_data import make_pose_dataset

pytest.importorskip("torch")

SMALL = ["--input-size", "32x32", "--epochs", "1", "--batch-size", "8", "--device", "cpu"]


@pytest.fixture(scope="module")
def pose_files(tmp_path_factory):
    from thermcli.io import write_dataset

    root = tmp_path_factory.mktemp("pose")
    write_dataset(root / "pairs.h5", make_pose_dataset(12, seed=0))
    write_dataset(root / "test.h5", make_pose_dataset(6, seed=1))
    write_dataset(root / "thermal_only.h5", make_pose_dataset(6, seed=2, rgb=False))
    return root


@pytest.fixture(scope="module")
def teacher(pose_files):
    from typer.testing import CliRunner

    from thermcli.cli.main import app

    out = pose_files / "teacher"
    result = CliRunner().invoke(app, ["train", str(pose_files / "pairs.h5"), "--task", "keypoints", "--side", "rgb",
                                      "--arch", "vit_tiny", "--out", str(out), *SMALL])
    assert result.exit_code == 0, result.output
    return out / "best.pt"


def test_train_keypoints_writes_a_run_with_the_config(cli, pose_files, teacher):
    from thermcli.models.checkpoint import read_checkpoint

    config = read_checkpoint(teacher)["config"]
    assert config["task"] == "keypoints" and config["side"] == "rgb"
    assert config["input_size"] == [32, 32] and config["heatmap_size"] == [8, 8]
    assert config["model_kwargs"]["encoder"] == "vit" and config["input_shape"] == [3, 32, 32]
    assert config["provenance"]["command"] == "thermcli train"
    assert (teacher.parent / "metrics.csv").read_text().startswith("epoch,train_loss")


def test_supervised_thermal_baseline_and_oks_eval(cli, pose_files, tmp_path):
    out = tmp_path / "student"
    result = cli("train", pose_files / "pairs.h5", "--task", "keypoints", "--arch", "mobilenet_v3_small",
                 "--out", out, "--loss", "mse", "--no-augment", *SMALL)
    assert result.exit_code == 0, result.output
    result = cli("eval", out / "best.pt", pose_files / "test.h5", "--metric", "oks", "--json")
    assert result.exit_code == 0, result.output
    oks = json.loads(result.stdout)["metrics"]["oks"]
    for name in ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"):
        assert -1 <= oks[name] <= 1
    assert set(oks["per_keypoint"]) >= {"nose", "left_ankle"}


def test_distill_beta_sweep_with_cache_summary_and_plot(cli, pose_files, teacher, tmp_path):
    out = tmp_path / "sweep"
    args = ["distill", pose_files / "pairs.h5", "--task", "keypoints", "--teacher", teacher, "--student",
            "mobilenet_v3_small", "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--test",
            pose_files / "test.h5", "--out", out]
    result = cli(*args, "--beta", "0:1:0.5", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [r["beta"] for r in summary["runs"]] == [0.0, 0.5, 1.0]
    rows = (out / "beta_sweep.csv").read_text().splitlines()
    assert rows[0].startswith("beta,AP,AP50") and len(rows) == 4
    assert (out / "beta_sweep.png").stat().st_size > 1000
    assert (out / "beta_0.5" / "best.pt").is_file()
    cache = out / "teacher_cache.h5"
    stamp = cache.stat().st_mtime_ns
    # one more β reuses the cache untouched; the student shares the teacher's frozen decoder
    one = tmp_path / "one"
    result = cli(*args[:-1], one, "--beta", "0.4", "--cache", cache, "--target", "labels")
    assert result.exit_code == 0, result.output
    assert cache.stat().st_mtime_ns == stamp
    # augmented copies: a new cache (another key) with 3 variants per pair
    result = cli(*args[:-1], tmp_path / "aug", "--beta", "0.4", "--teacher-copies", "3")
    assert result.exit_code == 0, result.output
    import h5py

    with h5py.File(tmp_path / "aug" / "teacher_cache.h5", "r") as fh:
        assert fh["latent"].shape[0] == 3 * 12
    import torch

    from thermcli.models.checkpoint import load_checkpoint

    student, config, _ = load_checkpoint(one / "best.pt")
    teacher_model, _, _ = load_checkpoint(teacher)
    for key, value in teacher_model.decoder.state_dict().items():
        assert torch.equal(student.decoder.state_dict()[key], value), key
    assert config["distill"] == {**config["distill"], "beta": 0.4, "target": "labels"}
    assert student.projection is not None


def test_eval_coco_json_files(cli, tmp_path):
    rng = np.random.default_rng(0)
    gt = {"images": [{"id": 1}, {"id": 2}], "categories": [{"id": 1, "name": "person"}], "annotations": []}
    results = []
    for aid, img in enumerate([1, 1, 2], start=1):
        kp = np.column_stack([rng.uniform(0, 80, 17), rng.uniform(0, 60, 17), np.full(17, 2)])
        gt["annotations"].append({"id": aid, "image_id": img, "category_id": 1, "keypoints": kp.ravel().tolist(),
                                  "num_keypoints": 17, "bbox": [0, 0, 80, 60], "area": 900.0, "iscrowd": 0})
        kp[:, :2] += rng.normal(0, 1, (17, 2))
        results.append({"image_id": img, "category_id": 1, "keypoints": kp.ravel().tolist(), "score": 0.9})
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(results))
    result = cli("eval", "--metric", "oks", "--gt", tmp_path / "gt.json", "--pred", tmp_path / "res.json", "--json")
    assert result.exit_code == 0, result.output
    oks = json.loads(result.stdout)["metrics"]["oks"]
    from thermcli.metrics.oks import evaluate_coco_files

    assert oks["AP"] == pytest.approx(evaluate_coco_files(gt, results).stats["AP"], abs=1e-12)
    assert oks["APm"] == -1  # every person is below 32² px²: warned about
    assert "medium" in result.stderr
    custom = cli("eval", "--metric", "oks", "--gt", tmp_path / "gt.json", "--pred", tmp_path / "res.json", "--json",
                 "--area-ranges", "medium=0:800,large=800:1e10")
    assert json.loads(custom.stdout)["metrics"]["oks"]["APl"] > -1

    bad_ids = [dict(results[0], image_id=99)]
    (tmp_path / "bad_ids.json").write_text(json.dumps(bad_ids))
    result = cli("eval", "--metric", "oks", "--gt", tmp_path / "gt.json", "--pred", tmp_path / "bad_ids.json")
    assert_clean_error(result, 1, "bad_ids.json", "not in the ground truth")
    bad_k = [dict(results[0], keypoints=results[0]["keypoints"][:45])]
    (tmp_path / "bad_k.json").write_text(json.dumps(bad_k))
    result = cli("eval", "--metric", "oks", "--gt", tmp_path / "gt.json", "--pred", tmp_path / "bad_k.json")
    assert_clean_error(result, 1, "bad_k.json", "15 keypoints; the ground truth has 17")


def test_distill_refuses_pairs_without_rgb(cli, pose_files, teacher, tmp_path):
    result = cli("distill", pose_files / "thermal_only.h5", "--task", "keypoints", "--teacher", teacher,
                 "--out", tmp_path / "x", "--device", "cpu")
    assert_clean_error(result, 1, "thermal_only.h5", "no RGB frames")


def test_classify_distill_refuses_a_keypoint_teacher(cli, pose_files, teacher, tmp_path):
    result = cli("distill", pose_files / "pairs.h5", "--teacher", teacher, "--student", "small_cnn",
                 "--out", tmp_path / "x", "--device", "cpu")
    assert_clean_error(result, 1, str(teacher), "keypoints model, not classify")


def test_distill_refuses_a_teacher_without_a_projectable_latent(cli, pose_files, tmp_path):
    from thermcli.models.checkpoint import save_checkpoint
    from thermcli.models.registry import create_model, list_models

    name = "small_cnn" if "small_cnn" in list_models() else None
    if name is None:
        pytest.skip("no classifier registered")
    model = create_model(name, in_chans=1, num_classes=2)
    path = tmp_path / "classifier_as_teacher.pt"
    save_checkpoint(path, state_dict=model.state_dict(),
                    config={"arch": name, "model_kwargs": {"in_chans": 1, "num_classes": 2}, "task": "keypoints"})
    result = cli("distill", pose_files / "pairs.h5", "--task", "keypoints", "--teacher", path, "--out",
                 tmp_path / "x", "--device", "cpu")
    assert_clean_error(result, 1, "classifier_as_teacher.pt", "cannot be projected")


def test_annotate_folder_sheet_and_video(cli, pose_files, teacher, tmp_path):
    import cv2

    result = cli("annotate", pose_files / "test.h5", tmp_path / "frames", "--model", teacher, "--device", "cpu")
    assert result.exit_code == 0, result.output
    pngs = sorted((tmp_path / "frames").glob("*.png"))
    assert len(pngs) == 6
    image = cv2.imread(str(pngs[0]))
    assert image.shape[1] >= 480  # 80×60 upscaled ×6, plus the colour bar
    result = cli("annotate", pose_files / "test.h5", tmp_path / "sheet.png", "--palette", "white-hot",
                 "--frames", "0:4", "--columns", "2", "--no-colorbar")
    assert result.exit_code == 0, result.output
    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    assert sheet.shape[0] > 2 * 360 and sheet.shape[1] > 2 * 480
    result = cli("annotate", pose_files / "test.h5", tmp_path / "clip.mp4", "--frames", "0:3")
    assert result.exit_code == 0, result.output
    capture = cv2.VideoCapture(str(tmp_path / "clip.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    result = cli("annotate", pose_files / "test.h5", tmp_path / "x.jpg")
    assert_clean_error(result, 2, "OUT")
    result = cli("annotate", pose_files / "test.h5", tmp_path / "y.png", "--palette", "nope")
    assert_clean_error(result, 2, "--palette")


def test_annotate_predictions_dataset_from_predict(cli, pose_files, teacher, tmp_path):
    result = cli("predict", teacher, pose_files / "test.h5", tmp_path / "pred.h5", "--device", "cpu")
    assert result.exit_code == 0, result.output
    from thermcli.io import read_dataset

    pred = read_dataset(tmp_path / "pred.h5")
    assert pred.keypoints.shape == (6, 1, 17, 3) and np.isfinite(pred.scores).all()
    assert "true_keypoints" in pred.columns
    result = cli("eval", tmp_path / "pred.h5", pose_files / "test.h5", "--metric", "oks", "--json")
    assert result.exit_code == 0, result.output
    result = cli("annotate", pose_files / "test.h5", tmp_path / "p.png", "--pred", tmp_path / "pred.h5")
    assert result.exit_code == 0, result.output


def test_train_resnet18_teacher_with_jitter_loss_map_and_cosine(cli, pose_files, tmp_path):
    from thermcli.models.checkpoint import read_checkpoint

    out = tmp_path / "r18"
    result = cli("train", pose_files / "pairs.h5", "--task", "keypoints", "--side", "rgb", "--arch", "resnet18",
                 "--color-jitter", "--map-weight", "10", "--scheduler", "cosine", "--epochs", "2", "--out", out,
                 *[a for a in SMALL if a not in ("--epochs", "1")])
    assert result.exit_code == 0, result.output
    config = read_checkpoint(out / "best.pt")["config"]
    assert config["model_kwargs"]["encoder"] == "resnet18"
    assert config["train_config"]["map_weight"] == 10 and config["train_config"]["color_jitter"] is True
    lrs = [float(line.split(",")[-2]) for line in (out / "metrics.csv").read_text().splitlines()[1:]]
    assert lrs[-1] < lrs[0]  # cosine to zero over the epochs


def test_distill_adapter_and_latent_norm_options(cli, pose_files, teacher, tmp_path):
    from thermcli.models.checkpoint import load_checkpoint

    args = ["distill", pose_files / "pairs.h5", "--task", "keypoints", "--teacher", teacher, "--student",
            "mobilenet_v3_small", "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--beta", "0.5"]
    result = cli(*args, "--latent-norm", "channel", "--map-weight", "10", "--out", tmp_path / "norm")
    assert result.exit_code == 0, result.output
    student, config, _ = load_checkpoint(tmp_path / "norm" / "best.pt")
    assert config["train_config"]["latent_norm"] == "channel" and student.projection is not None
    result = cli(*args, "--latent-norm", "whiten", "--out", tmp_path / "bad")
    assert_clean_error(result, 2, "--latent-norm", "whiten")
