"""train / distill / predict / eval / split end to end on tiny breathing data (tiny models, few epochs)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.conftest import assert_clean_error, make_dataset
from thermcli.io import read_dataset, write_dataset

TINY = ["--arch", "small_cnn", "--width", "4", "--epochs", "2", "--batch-size", "32", "--seed", "1"]


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    from typer.testing import CliRunner

    from thermcli.cli.main import app
    from thermcli.synth import breathing

    root = tmp_path_factory.mktemp("breathing")
    write_dataset(root / "all.h5", breathing.generate(seed=5, scale=0.25)["breathing.h5"])
    result = CliRunner().invoke(app, ["split", str(root / "all.h5"), str(root / "split"), "--by", "subject",
                                      "--fractions", "0.5,0.25,0.25", "--json"])
    assert result.exit_code == 0, result.output
    return root / "split", json.loads(result.stdout)


@pytest.fixture(scope="module")
def trained(splits, tmp_path_factory):
    from typer.testing import CliRunner

    from thermcli.cli.main import app

    split, _ = splits
    out = tmp_path_factory.mktemp("runs") / "run"
    result = CliRunner().invoke(app, ["train", str(split / "train.h5"), "--val", str(split / "val.h5"), "--out", str(out),
                                      "--json", *TINY])
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_split_by_subject_is_disjoint(splits):
    split, summary = splits
    parts = {name: read_dataset(split / f"{name}.h5") for name in ("train", "val", "test")}
    subjects = {name: set(ds.subject) for name, ds in parts.items()}
    assert not (subjects["train"] & subjects["val"]) and not (subjects["train"] & subjects["test"])
    assert not (subjects["val"] & subjects["test"])
    assert sum(len(ds) for ds in parts.values()) == len(read_dataset(split.parent / "all.h5"))
    assert summary["groups"]["test"] == sorted(subjects["test"], key=summary["groups"]["test"].index)
    assert parts["train"].meta.provenance["command"] == "thermcli split"


def test_train_writes_run_folder(trained):
    out, summary = trained
    for name in ("config.json", "metrics.csv", "curves.png", "best.pt", "last.pt"):
        assert (out / name).is_file(), name
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3 and "val_balanced_accuracy" in rows[0]
    from thermcli.models.checkpoint import load_checkpoint

    model, config, _ = load_checkpoint(out / "best.pt")  # rebuilt from its own config
    assert config["class_names"] == ["INH", "EXH"] and config["task"] == "classify"
    assert model(torch.zeros(1, 1, 20, 24)).shape == (1, 2)
    assert summary["epochs_run"] == 2


def test_eval_model_equals_eval_of_predictions(cli, trained, splits, tmp_path):
    out, _ = trained
    split, _ = splits
    direct = cli("eval", out / "best.pt", split / "test.h5", "--json", "--output", tmp_path / "m.json")
    assert direct.exit_code == 0, direct.output
    assert cli("predict", out / "best.pt", split / "test.h5", tmp_path / "pred.h5").exit_code == 0
    pred = read_dataset(tmp_path / "pred.h5")
    assert pred.columns["probabilities"].shape == (len(pred), 2)
    np.testing.assert_allclose(pred.columns["probabilities"].sum(1), 1.0, atol=1e-5)
    from_pred = cli("eval", tmp_path / "pred.h5", split / "test.h5", "--json")
    assert from_pred.exit_code == 0, from_pred.output
    a, b = json.loads(direct.stdout)["metrics"], json.loads(from_pred.stdout)["metrics"]
    assert a == b
    assert json.loads((tmp_path / "m.json").read_text())["metrics"] == a
    alone = cli("eval", tmp_path / "pred.h5", "--json")  # the predictions carry their ground truth
    assert alone.exit_code == 0, alone.output
    assert json.loads(alone.stdout)["metrics"] == a
    # the same numbers as scikit-learn on those predictions
    from sklearn.metrics import balanced_accuracy_score

    truth = read_dataset(split / "test.h5").labels
    keep = truth >= 0
    assert a["classification"]["balanced_accuracy"] == balanced_accuracy_score(truth[keep], pred.labels[keep])


def test_fail_under_exits_3(cli, trained, splits):
    out, _ = trained
    split, _ = splits
    assert_clean_error(cli("eval", out / "best.pt", split / "test.h5", "--fail-under", "accuracy=1.01"), 3, "accuracy")
    ok = cli("eval", out / "best.pt", split / "test.h5", "--fail-under", "accuracy=0.0", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["gates"][0]["passed"]
    assert_clean_error(cli("eval", out / "best.pt", split / "test.h5", "--metric", "accuracy", "--fail-under", "f1=0.5"),
                       2, "--fail-under")
    assert_clean_error(cli("eval", out / "best.pt", split / "test.h5", "--metric", "acuracy"), 2, "did you mean accuracy")


def test_cost(cli, trained, splits):
    out, _ = trained
    result = cli("eval", out / "best.pt", splits[0] / "test.h5", "--metric", "cost", "--repeats", "3", "--json")
    assert result.exit_code == 0, result.output
    cost = json.loads(result.stdout)["metrics"]["cost"]
    model = __import__("thermcli.models.checkpoint", fromlist=["x"]).load_checkpoint(out / "best.pt")[0]
    assert cost["params"]["total"] == sum(p.numel() for p in model.parameters())
    assert cost["flops"] > 0 and cost["latency_ms"] > 0 and cost["input_shape"] == [1, 20, 24]


def test_resume_continues_exactly(cli, splits, tmp_path):
    split, _ = splits
    args = [split / "train.h5", "--val", split / "val.h5", *TINY[:-6], "--batch-size", "32", "--seed", "1", "--patience", "0"]
    assert cli("train", *args, "--epochs", "3", "--out", tmp_path / "full").exit_code == 0
    assert cli("train", *args, "--epochs", "1", "--out", tmp_path / "cut").exit_code == 0
    resumed = cli("train", *args, "--epochs", "3", "--out", tmp_path / "cut", "--resume")
    assert resumed.exit_code == 0, resumed.output
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["state_dict"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert (tmp_path / "full" / "metrics.csv").read_text().count("\n") == (tmp_path / "cut" / "metrics.csv").read_text().count("\n")


def test_seed_makes_runs_identical(cli, splits, tmp_path):
    split, _ = splits
    for name in ("a", "b"):
        assert cli("train", split / "train.h5", *TINY, "--epochs", "1", "--out", tmp_path / name).exit_code == 0
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_schedules_contrastive_frames_resample(cli, splits, tmp_path):
    split, _ = splits
    result = cli("train", split / "train.h5", "--val", split / "val.h5", *TINY, "--epochs", "3", "--finetune", "gradual:1",
                 "--contrastive-weight", "0.5", "--frames", "3", "--balance", "resample", "--optimizer", "sgd",
                 "--scheduler", "cosine", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "r" / "metrics.csv").read_text().splitlines()
    header = text[0].split(",")
    stages = [int(row.split(",")[header.index("trainable_stages")]) for row in text[1:]]
    assert stages == [0, 1, 2]  # gradual unfreezing, one stage an epoch from the top
    assert "train_contrastive" in header
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["classify"]["frames"] == 3
    frozen = cli("train", split / "train.h5", *TINY, "--finetune", "frozen", "--out", tmp_path / "f")
    assert frozen.exit_code == 0
    start = torch.load(tmp_path / "f" / "last.pt", weights_only=True)["state_dict"]
    torch.manual_seed(1)
    from thermcli.models.registry import create_model

    fresh = create_model("small_cnn", in_chans=1, num_classes=2, width=4).state_dict()
    assert torch.equal(start["backbone.block1.0.weight"], fresh["backbone.block1.0.weight"])  # never trained


def test_distill_and_ensemble(cli, trained, splits, tmp_path):
    out, _ = trained
    split, _ = splits
    result = cli("distill", split / "train.h5", "--teacher", out / "best.pt", "--student", "small_cnn", "--width", "4",
                 "--epochs", "2", "-T", "3", "--alpha", "0.7", "--val", split / "val.h5", "--out", tmp_path / "s", "--json")
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "s" / "config.json").read_text())
    assert config["classify"]["teacher"] == str(out / "best.pt") and config["classify"]["alpha"] == 0.7
    ens = cli("train", split / "train.h5", "--val", split / "val.h5", "--head", "svm+rf", "--features", out / "best.pt",
              "--trees", "20", "--out", tmp_path / "e", "--json")
    assert ens.exit_code == 0, ens.output
    summary = json.loads(ens.stdout)
    weights = summary["weights"]
    assert set(weights) == {"svm", "rf", "net"} and sum(weights.values()) == pytest.approx(1.0)
    # C chosen on the validation split, calibration folds grouped by subject (no frame on both sides)
    assert summary["svm_c"] in (0.1, 1.0, 10.0) and set(summary["val_balanced_accuracy_svm_by_c"]) == {"0.1", "1.0", "10.0"}
    assert summary["calibration_folds"].endswith("by subject")
    fixed = cli("train", split / "train.h5", "--val", split / "val.h5", "--head", "svm+rf", "--features", out / "best.pt",
                "--trees", "20", "--svm-c", "2", "--ensemble-weights", "1,1", "--out", tmp_path / "e2", "--json")
    assert fixed.exit_code == 0, fixed.output
    fixed_summary = json.loads(fixed.stdout)
    assert fixed_summary["svm_c"] == 2.0 and fixed_summary["weights"] == {"svm": 0.5, "rf": 0.5, "net": 0.0}
    for bad in (["--svm-c", "0"], ["--svm-c", "x"], ["--ensemble-weights", "1,2,3,4"]):
        assert_clean_error(cli("train", split / "train.h5", "--head", "svm+rf", "--features", out / "best.pt", *bad,
                               "--out", tmp_path / "bad"), 2, bad[0])
    res = cli("eval", tmp_path / "e" / "ensemble.skops", split / "test.h5", "--json")
    assert res.exit_code == 0, res.output
    assert 0.0 <= json.loads(res.stdout)["metrics"]["classification"]["balanced_accuracy"] <= 1.0
    assert cli("predict", tmp_path / "e", split / "test.h5", tmp_path / "ep.h5").exit_code == 0


def test_ensemble_refuses_untrusted_types(cli, trained, splits, tmp_path):
    import shutil

    import skops.io as sio

    out, _ = trained
    split, _ = splits
    assert cli("train", split / "train.h5", "--head", "svm+rf", "--features", out / "best.pt", "--trees", "5",
               "--out", tmp_path / "e").exit_code == 0
    from collections import OrderedDict  # noqa: F401  (a type outside the allow-list)
    from sklearn.neighbors import KNeighborsClassifier

    sio.dump({"svm": KNeighborsClassifier(), "rf": __import__("fractions").Fraction(1, 3)}, tmp_path / "e" / "ensemble.skops")
    shutil.copy(tmp_path / "e" / "ensemble.skops", tmp_path / "e" / "x.skops")
    assert_clean_error(cli("eval", tmp_path / "e" / "ensemble.skops", split / "test.h5"), 1, "refusing to load")


def test_weights_from_a_checkpoint_of_the_same_arch(cli, trained, splits, tmp_path):
    out, _ = trained
    split, _ = splits
    result = cli("train", split / "train.h5", *TINY, "--epochs", "1", "--weights", out / "best.pt", "--finetune", "frozen",
                 "--out", tmp_path / "ft")
    assert result.exit_code == 0, result.output
    source = torch.load(out / "best.pt", weights_only=True)["state_dict"]
    tuned = torch.load(tmp_path / "ft" / "last.pt", weights_only=True)["state_dict"]
    assert torch.equal(source["backbone.block1.0.weight"], tuned["backbone.block1.0.weight"])  # loaded, then frozen
    config = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert config["weights"]["weights"] == str(out / "best.pt")


def test_cv_loso(cli, splits, tmp_path):
    split, _ = splits
    result = cli("train", split / "train.h5", *TINY, "--epochs", "1", "--cv", "loso", "--out", tmp_path / "cv", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    subjects = sorted(set(read_dataset(split / "train.h5").subject))
    assert [f["subject"] for f in summary["folds"]] == subjects
    values = [f["balanced_accuracy"] for f in summary["folds"]]
    assert summary["balanced_accuracy"]["mean"] == pytest.approx(float(np.nanmean(values)))
    assert (tmp_path / "cv" / "cv.json").is_file()


# ---- bad input ------------------------------------------------------------------------------

def test_no_labels(cli, tmp_path):
    write_dataset(tmp_path / "nl.h5", make_dataset(n=8, labels=False))
    assert_clean_error(cli("train", tmp_path / "nl.h5", *TINY, "--out", tmp_path / "r"), 1, "nl.h5", "no labels")


def test_single_class(cli, tmp_path):
    ds = make_dataset(n=8)
    ds.labels[:] = 1
    write_dataset(tmp_path / "one.h5", ds)
    assert_clean_error(cli("train", tmp_path / "one.h5", *TINY, "--out", tmp_path / "r"), 1, "single class", "EXH")


def test_corrupted_and_foreign_checkpoints(cli, trained, splits, tmp_path):
    out, _ = trained
    split, _ = splits
    bad = tmp_path / "bad.pt"
    bad.write_bytes(out.joinpath("best.pt").read_bytes()[:300])
    assert_clean_error(cli("eval", bad, split / "test.h5"), 1, "bad.pt")
    assert_clean_error(cli("predict", bad, split / "test.h5", tmp_path / "p.h5"), 1, "bad.pt")
    # weights of another architecture
    assert_clean_error(cli("train", split / "train.h5", "--epochs", "1", "--arch", "mobilenet_v3_small", "--weights", out / "best.pt",
                           "--out", tmp_path / "r"), 1, "small_cnn", "mobilenet_v3_small")
    # a checkpoint whose weights do not fit its stated architecture
    payload = torch.load(out / "best.pt", weights_only=True)
    config = json.loads(payload["config"])
    config["arch"] = "resnet18"
    payload["config"] = json.dumps(config)
    torch.save(payload, tmp_path / "liar.pt")
    assert_clean_error(cli("eval", tmp_path / "liar.pt", split / "test.h5"), 1, "liar.pt", "resnet18")
    assert not (tmp_path / "p.h5").exists()


def test_frames_longer_than_a_sequence(cli, splits, tmp_path):
    split, _ = splits
    assert_clean_error(cli("train", split / "train.h5", *TINY, "--frames", "50", "--out", tmp_path / "r"), 2, "--frames",
                       "longer than sequence")


def test_unknown_arch_suggests(cli, splits, tmp_path):
    split, _ = splits
    assert_clean_error(cli("train", split / "train.h5", "--arch", "resnet-18", "--out", tmp_path / "r"), 2,
                       "--arch", "did you mean resnet18")
    assert_clean_error(cli("train", split / "train.h5", "--task", "clasify", "--out", tmp_path / "r"), 2,
                       "did you mean classify")


def test_imagenet_weights_absent(cli, splits, tmp_path, monkeypatch):
    torch.hub.set_dir(str(tmp_path / "hub"))
    split, _ = splits
    result = cli("train", split / "train.h5", "--arch", "resnet18", "--weights", "imagenet", "--epochs", "1",
                 "--out", tmp_path / "r")
    assert_clean_error(result, 1, "resnet18-", str(tmp_path / "hub" / "checkpoints"), "download")


def test_ensemble_weights_grid_and_learning():
    from thermcli.stages.ensemble import combine, learn_weights, weight_grid

    grid = weight_grid(("svm", "rf", "net"), 0.1)
    assert len(grid) == 66 and all(sum(w.values()) == pytest.approx(1.0) for w in grid)
    assert len({tuple(sorted(w.items())) for w in grid}) == 66
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    perfect = np.eye(2)[y] * 0.9 + 0.05
    noise = rng.dirichlet([1, 1], 200)
    w = learn_weights({"svm": noise, "rf": noise[::-1].copy(), "net": perfect}, y)
    assert combine({"svm": noise, "rf": noise, "net": perfect}, w).argmax(1).tolist() == y.tolist()
    assert w["net"] > 0.5
    # a member missing from the probabilities weighs nothing; weights are renormalised
    np.testing.assert_allclose(combine({"net": perfect}, {"svm": 0.2, "net": 0.8}), perfect)


def test_calibration_folds_keep_subjects_apart():
    from types import SimpleNamespace

    from thermcli.stages.ensemble import calibration_folds

    subject = np.repeat(["a", "b", "c", "d"], 12)
    y = np.tile([0, 1], 24)
    folds, how = calibration_folds(SimpleNamespace(subject=subject, sequence=None), np.arange(48), y, seed=0)
    assert how == "subject" and len(folds) == 3
    assert sorted(np.concatenate([test for _, test in folds]).tolist()) == list(range(48))  # a partition
    for train, test in folds:
        assert not set(subject[train]) & set(subject[test])
    folds, how = calibration_folds(SimpleNamespace(subject=None, sequence=None), np.arange(48), y, seed=0)
    assert how == "stratified" and len(folds) == 3
