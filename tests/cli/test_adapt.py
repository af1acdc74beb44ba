"""``thermcli adapt`` end to end on tiny data, and its one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import assert_clean_error
from thermcli.io import Dataset, Meta, write_dataset

FAST = ["--source-epochs", "2", "--epochs", "2", "--steps-per-epoch", "2", "--batch-size", "16", "--feature-dim", "32", "--disc-hidden", "32", "--threads", "1"]


@pytest.fixture(scope="module")
def domains(tmp_path_factory):
    """The domains sample data at a tiny scale (about 26 frames a file)."""
    from thermcli.synth import domains as gen

    folder = tmp_path_factory.mktemp("domains")
    for name, ds in gen.generate(seed=5, scale=0.05).items():
        write_dataset(folder / name, ds)
    return folder


@pytest.mark.parametrize("method", ["adda", "dann"])
def test_adapt_multiclass_end_to_end(cli, tmp_path, domains, method):
    out = tmp_path / "run"
    result = cli(
        "adapt", "--method", method, domains / "source_train.h5", domains / "target_train.h5",
        "--target-val", domains / "target_test.h5", "--out", out, "--json", *FAST,
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert 0 <= summary["target_acc_adapted"]["mean"] <= 1
    for name in ("config.json", "metrics.csv", "curves.png", "embedding.png", "best.pt", "source.pt", "source_only.pt", "summary.json", "metrics.json"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [r["phase"] for r in rows] == ["source"] * 2 + ["adapt"] * 2
    assert {"source_acc", "target_acc", "disc_acc", "loss_disc"} <= set(rows[-1])
    assert 0 <= float(rows[-1]["disc_acc"]) <= 1
    # the adapted checkpoint rebuilds encoder + classifier as one model and says what it took
    from thermcli.models.checkpoint import load_checkpoint
    from thermcli.stages.adapt import load_domains

    model, config, _ = load_checkpoint(out / "best.pt", expect_task="classify")
    assert config["task"] == "classify" and config["method"] == method and config["domain"] == "target"
    assert config["class_names"] == ["disc", "ring", "square", "triangle", "cross", "bar"]
    assert "never used for training" in json.dumps(config["provenance"]["notes"])
    # reproduce the reported adapted target accuracy from the checkpoint alone, feeding it the raw
    # frames through the checkpoint's `normalization` (the contract `eval` / `predict` follow)
    import torch

    from thermcli.io import read_dataset

    test = read_dataset(domains / "target_test.h5")
    norm = config["normalization"]
    assert norm["mode"] == "dataset" and config["frames"] == 1 and config["frame_shape"] == [28, 28]
    x = (test.frames.astype(np.float32) - norm["mean"]) / norm["std"]
    _, _, val, _, _, _ = load_domains(domains / "source_train.h5", domains / "target_train.h5", domains / "target_test.h5", size=None, normalize="domain")
    np.testing.assert_allclose(x, val.x[:, 0], atol=1e-4)
    model.eval()
    with torch.no_grad():
        acc = float((model(torch.from_numpy(x[:, None])).argmax(1).numpy() == test.labels).mean())
    assert acc == pytest.approx(summary["target_acc_adapted"]["mean"])


def test_adapt_is_deterministic_and_seeds_report_mean_std(cli, tmp_path, domains):
    args = ["adapt", domains / "source_train.h5", domains / "target_train.h5", "--target-val", domains / "target_test.h5", *FAST, "--json"]
    a = json.loads(cli(*args, "--out", tmp_path / "a", "--seeds", "0,1").stdout)
    b = json.loads(cli(*args, "--out", tmp_path / "b", "--seed", "1").stdout)
    # a seed's run does not depend on the seeds run before it in the same command
    assert b["target_acc_adapted"]["values"] == a["target_acc_adapted"]["values"][1:]
    assert b["target_acc_source_only"]["values"] == a["target_acc_source_only"]["values"][1:]
    values = a["target_acc_adapted"]["values"]
    assert len(values) == 2
    assert a["target_acc_adapted"]["std"] == pytest.approx(float(np.std(values, ddof=1)))
    assert (tmp_path / "a" / "seed1" / "best.pt").is_file() and (tmp_path / "a" / "best.pt").is_file()
    assert (tmp_path / "a" / "source_only.pt").read_bytes() == (tmp_path / "a" / "seed0" / "source_only.pt").read_bytes()


def test_adapt_multilabel_reports_per_label_f1(cli, tmp_path, domains):
    out = tmp_path / "au"
    result = cli(
        "adapt", "--method", "dann", domains / "au_source_train.h5", domains / "au_target_train.h5",
        "--target-val", domains / "au_target_test.h5", "--out", out, "--json", *FAST,
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    metrics = json.loads((out / "metrics.json").read_text())
    per_label = metrics["adapted"]["target"]["per_label_f1"]
    assert len(per_label) == 5 and metrics["class_names"][0] == "AU01"
    assert summary["target_f1_adapted"]["mean"] == pytest.approx(float(np.mean(per_label)))
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert "target_f1" in rows[-1] and "source_f1" in rows[-1]


def test_adapt_with_a_given_source_model(cli, tmp_path, domains):
    first = tmp_path / "first"
    assert cli("adapt", domains / "source_train.h5", domains / "target_train.h5", "--out", first, *FAST).exit_code == 0
    second = tmp_path / "second"
    fast = [a for a in FAST]
    fast[fast.index("--source-epochs") + 1] = "0"
    result = cli("adapt", domains / "source_train.h5", domains / "target_train.h5", "--out", second, "--source-model", first / "source.pt", *fast)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(second / "metrics.csv")))
    assert all(r["phase"] == "adapt" for r in rows) and [int(r["epoch"]) for r in rows] == [0, 1]
    # the given model's architecture is used: an option asking for another is refused, not ignored
    fast[fast.index("--feature-dim") + 1] = "48"
    result = cli("adapt", domains / "source_train.h5", domains / "target_train.h5", "--out", tmp_path / "third", "--source-model", first / "source.pt", *fast)
    assert_clean_error(result, 2, "--feature-dim", "32")
    assert not (tmp_path / "third").exists()


def _labelled(path, n, h, w, names=("disc", "ring"), channels=None):
    rng = np.random.default_rng(0)
    shape = (n, h, w) if channels is None else (n, h, w, channels)
    frames = rng.integers(0, 256, shape, dtype=np.uint8)
    meta = Meta(unit="intensity", modality="thermal", class_names=list(names))
    write_dataset(path, Dataset(frames=frames, meta=meta, labels=(np.arange(n) % len(names)).astype(np.int64)))
    return path


def test_different_label_sets(cli, tmp_path):
    src = _labelled(tmp_path / "s.h5", 8, 28, 28)
    tgt = _labelled(tmp_path / "t.h5", 8, 28, 28, names=("disc", "cross"))
    assert_clean_error(cli("adapt", src, tgt, "--out", tmp_path / "r", *FAST), 1, "t.h5", "differ from the source")
    assert not (tmp_path / "r").exists()


def test_irreconcilable_sizes(cli, tmp_path):
    src = _labelled(tmp_path / "s.h5", 8, 28, 28)
    tgt = _labelled(tmp_path / "t.h5", 8, 10, 60)
    assert_clean_error(cli("adapt", src, tgt, "--out", tmp_path / "r", *FAST), 1, "t.h5", "cannot be reconciled")


def test_only_size_differs_is_resized_and_said(cli, tmp_path):
    src = _labelled(tmp_path / "s.h5", 8, 28, 28)
    tgt = _labelled(tmp_path / "t.h5", 8, 16, 16)
    result = cli("adapt", src, tgt, "--out", tmp_path / "r", *FAST)
    assert result.exit_code == 0, result.output
    notes = json.loads((tmp_path / "r" / "config.json").read_text())["notes"]
    assert "target frames resized from 16×16 to 28×28" in notes


def test_empty_target(cli, tmp_path):
    import h5py

    src = _labelled(tmp_path / "s.h5", 8, 28, 28)
    empty = tmp_path / "empty.h5"
    _labelled(empty, 4, 28, 28)
    with h5py.File(empty, "a") as fh:  # a valid file whose datasets hold zero rows
        for name in ("frames", "labels"):
            fh[name].resize(0, axis=0)
    assert_clean_error(cli("adapt", src, empty, "--out", tmp_path / "r", *FAST), 1, "empty.h5", "no frames")


def test_encoder_output_does_not_fit_classifier(cli, tmp_path, domains):
    first = tmp_path / "first"
    assert cli("adapt", domains / "source_train.h5", domains / "target_train.h5", "--out", first, *FAST).exit_code == 0
    fast = [a for a in FAST]
    fast[fast.index("--feature-dim") + 1] = "48"  # the target encoder gives 48, the classifier takes 32
    fast[fast.index("--source-epochs") + 1] = "0"  # no stage 1: the source model is given
    result = cli(
        "adapt", domains / "source_train.h5", domains / "target_train.h5", "--out", tmp_path / "r",
        "--source-model", first / "source.pt", "--target-encoder", "lenet_encoder", *fast,
    )
    assert_clean_error(result, 1, "outputs features of shape (48,) but the classifier expects 32")


def test_frames_too_small_for_the_encoder(cli, tmp_path):
    src = _labelled(tmp_path / "s.h5", 8, 8, 8)
    assert_clean_error(cli("adapt", src, src, "--out", tmp_path / "r", *FAST), 1, "encoder lenet_encoder cannot take")
    assert not (tmp_path / "r").exists()  # a failed adapt leaves no run folder


@pytest.mark.parametrize("method", ["adda", "dann"])
def test_optimizer_and_weight_decay_change_the_result(cli, tmp_path, domains, method):
    """--optimizer and --weight-decay steer stage 1 through the training loop: each changes the
    source model and so the adapted one (the run is deterministic: see the resume tests)."""
    import torch

    from thermcli.models.checkpoint import read_checkpoint

    args = ["adapt", "--method", method, domains / "source_train.h5", domains / "target_train.h5", *FAST, "--epochs", "1"]
    variants = {
        "default": [],
        "sgd": ["--optimizer", "sgd"],
        "decay": ["--weight-decay", "0.05"],  # Adam's L2
        "adamw-decay": ["--optimizer", "adamw", "--weight-decay", "0.05"],  # decoupled
        "adamw": ["--optimizer", "adamw"],
    }
    weights = {}
    for name, options in variants.items():
        result = cli(*args, "--out", tmp_path / name, *options)
        assert result.exit_code == 0, result.output
        weights[name] = {f: read_checkpoint(tmp_path / name / f)["state_dict"] for f in ("source.pt", "best.pt")}
        recorded = json.loads((tmp_path / name / "config.json").read_text())["adapt"]
        assert recorded["optimizer"] == ("adam" if name in ("default", "decay") else name.split("-")[0])
        assert recorded["weight_decay"] == (0.05 if "decay" in name else 0.0)

    def differ(a: str, b: str, file: str) -> bool:
        return any(not torch.equal(weights[a][file][k], weights[b][file][k]) for k in weights[a][file])

    for a, b in (("sgd", "default"), ("decay", "default"), ("adamw-decay", "decay")):
        for file in ("source.pt", "best.pt"):
            assert differ(a, b, file), (a, b, file)
    # AdamW without weight decay is Adam: the same weights (so the comparisons above measure the options)
    assert not differ("adamw", "default", "source.pt") and not differ("adamw", "default", "best.pt")


def test_options_that_cannot_apply_are_refused(cli, tmp_path, domains, monkeypatch):
    """Exit 2 naming the option, nothing written: no option is accepted and then ignored."""
    src, tgt = domains / "source_train.h5", domains / "target_train.h5"
    given = ["--source-model", tmp_path / "source.pt"]  # refused before the model is read
    cases = [
        ([*given, "--source-epochs", "0", "--optimizer", "sgd"], "--optimizer"),
        ([*given, "--source-epochs", "0", "--weight-decay", "1e-4"], "--weight-decay"),
        ([*given, "--lr", "0.01"], "--lr"),
        ([*given, "--source-epochs", "3"], "--source-epochs"),
        (["--source-epochs", "0"], "--source-epochs"),
        (["--optimizer", "rmsprop"], "--optimizer"),
        (["--method", "dann", "--beta1", "0.9"], "--beta1"),
        (["--backbone", "resnet18"], "--backbone"),
    ]
    for options, option in cases:
        assert_clean_error(cli("adapt", src, tgt, "--out", tmp_path / "r", *options), 2, option)
        assert not (tmp_path / "r").exists(), options
    monkeypatch.setenv("WORLD_SIZE", "2")  # under torchrun: the discriminator would not be synchronised
    assert_clean_error(cli("adapt", src, tgt, "--out", tmp_path / "r"), 2, "torchrun")
    assert not (tmp_path / "r").exists()


def test_unlabelled_source_and_bad_options(cli, tmp_path, domains):
    tgt = domains / "target_train.h5"
    assert_clean_error(cli("adapt", tgt, tgt, "--out", tmp_path / "r", *FAST), 1, "source set has no labels")
    src = domains / "source_train.h5"
    assert_clean_error(cli("adapt", src, tgt, "--out", tmp_path / "r", "--method", "gan"), 2, "--method")
    assert_clean_error(cli("adapt", src, tgt, "--out", tmp_path / "r", "--seeds", "0,x"), 2, "--seeds")
    (tmp_path / "exists").mkdir()
    (tmp_path / "exists" / "x").write_text("")
    assert_clean_error(cli("adapt", src, tgt, "--out", tmp_path / "exists", *FAST), 2, "--force")


SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "domains"


@pytest.mark.slow
@pytest.mark.parametrize("method,options", [("adda", ["--epochs", "4"]), ("dann", ["--epochs", "10", "--adapt-lr", "0.003"])])
def test_adaptation_beats_source_only_beyond_the_seed_spread(cli, tmp_path, method, options):
    """The README's domains table: on the committed sample data, 3 seeds each (about 2 min a method)."""
    result = cli(
        "adapt", "--method", method, SAMPLE / "source_train.h5", SAMPLE / "target_train.h5",
        "--target-val", SAMPLE / "target_test.h5", "--source-epochs", "20", "--seeds", "0,1,2",
        "--threads", "1", "--out", tmp_path / method, "--json", *options,
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    before, after = summary["target_acc_source_only"], summary["target_acc_adapted"]
    spread = max(before["std"], after["std"])
    assert after["mean"] - before["mean"] > spread, (before, after)
    assert after["mean"] - before["mean"] > 0.05


def test_unknown_encoder_suggests_close_names(cli, tmp_path, domains):
    result = cli("adapt", domains / "source_train.h5", domains / "target_train.h5", "--out", tmp_path / "r", "--encoder", "lenet_encodr")
    assert_clean_error(result, 2, "--encoder", "lenet_encoder")


def test_eval_reads_the_adapted_checkpoint(cli, tmp_path, domains):
    """`thermcli eval` on best.pt gives the accuracy `adapt` reported (same input normalisation)."""
    out = tmp_path / "run"
    result = cli(
        "adapt", domains / "source_train.h5", domains / "target_train.h5", "--target-val", domains / "target_test.h5",
        "--out", out, "--json", *FAST,
    )
    assert result.exit_code == 0, result.output
    reported = json.loads(result.stdout)["target_acc_adapted"]["mean"]
    evaluation = cli("eval", out / "best.pt", domains / "target_test.h5", "--metric", "accuracy", "--json")
    assert evaluation.exit_code == 0, evaluation.output
    assert json.loads(evaluation.stdout)["metrics"]["classification"]["accuracy"] == pytest.approx(reported)
    # the source-only baseline too: source_only.pt is stage 1 fed the target's standardisation,
    # as adapt scored it; source.pt (the source's standardisation) is a different model on target data
    reported_before = json.loads(result.stdout)["target_acc_source_only"]["mean"]
    before = cli("eval", out / "source_only.pt", domains / "target_test.h5", "--metric", "accuracy", "--json")
    assert before.exit_code == 0, before.output
    assert json.loads(before.stdout)["metrics"]["classification"]["accuracy"] == pytest.approx(reported_before, abs=1e-12)
    from thermcli.models.checkpoint import load_checkpoint

    _, only, _ = load_checkpoint(out / "source_only.pt", expect_task="classify")
    _, src_cfg, _ = load_checkpoint(out / "source.pt", expect_task="classify")
    _, best_cfg, _ = load_checkpoint(out / "best.pt", expect_task="classify")
    assert only["normalization"] == best_cfg["normalization"] != src_cfg["normalization"]
    assert only["domain"] == "target" and only["method"] == "source-only"
    # predictions as an artifact (what `annotate --pred` draws) agree too
    preds = tmp_path / "preds.h5"
    assert cli("predict", out / "best.pt", domains / "target_test.h5", preds).exit_code == 0
    from thermcli.io import read_dataset

    truth = read_dataset(domains / "target_test.h5").labels
    assert float((read_dataset(preds).labels == truth).mean()) == pytest.approx(reported)


def test_eval_scores_a_multilabel_model(cli, tmp_path, domains):
    """eval on multi-label ground truth: scikit-learn's multi-label metrics, from the model or from
    its saved predictions alike, and per-label F1 equal to what `adapt` reported."""
    from sklearn import metrics as skm

    from thermcli.io import read_dataset

    out = tmp_path / "au"
    result = cli("adapt", "--method", "dann", domains / "au_source_train.h5", domains / "au_target_train.h5",
                 "--target-val", domains / "au_target_test.h5", "--out", out, "--json", *FAST)
    assert result.exit_code == 0, result.output
    truth_path = domains / "au_target_test.h5"
    evaluation = cli("eval", out / "best.pt", truth_path, "--json", "--output", tmp_path / "m.json")
    assert evaluation.exit_code == 0, evaluation.output
    got = json.loads(evaluation.stdout)["metrics"]["classification"]
    assert json.loads((tmp_path / "m.json").read_text())["metrics"]["classification"] == got
    reported = json.loads((out / "metrics.json").read_text())["adapted"]["target"]["per_label_f1"]
    assert [got["f1"]["per_class"][c] for c in got["classes"]] == pytest.approx(reported)
    preds = tmp_path / "preds.h5"
    assert cli("predict", out / "best.pt", truth_path, preds).exit_code == 0
    pred = read_dataset(preds)
    truth = read_dataset(truth_path).labels
    assert pred.meta.label_kind == "multilabel" and pred.labels.shape == truth.shape
    score = pred.columns["probabilities"]
    np.testing.assert_array_equal(pred.labels, (score > 0.5).astype(np.uint8))
    assert got["subset_accuracy"] == skm.accuracy_score(truth, pred.labels)
    assert got["hamming_loss"] == skm.hamming_loss(truth, pred.labels)
    for average in ("micro", "macro", "samples"):
        assert got["f1"][average] == skm.f1_score(truth, pred.labels, average=average, zero_division=0)
    assert got["mAP"] == pytest.approx(skm.average_precision_score(truth, score, average="macro"))
    # the predictions alone (their true_labels column) give the same numbers
    alone = cli("eval", preds, "--json")
    assert alone.exit_code == 0, alone.output
    assert json.loads(alone.stdout)["metrics"]["classification"] == got
    table = cli("eval", preds)
    assert table.exit_code == 0 and "subset_accuracy" in table.stdout and "AU01" in table.stdout
    gate = cli("eval", preds, "--metric", "f1,mAP", "--fail-under", "mAP=1.01")
    assert_clean_error(gate, 3, "mAP")
    assert_clean_error(cli("eval", preds, "--metric", "balanced_accuracy"), 2, "--metric")


def test_eval_refuses_single_label_predictions_for_multilabel_truth(cli, tmp_path, domains):
    from thermcli.io import read_dataset

    pred = read_dataset(domains / "target_test.h5")  # multi-class labels: one class a frame
    truth = read_dataset(domains / "au_target_test.h5")
    n = min(len(pred), len(truth))
    pred.meta.attrs["predictions"] = {"task": "classify"}  # eval takes only predictions as SOURCE (issue 23)
    write_dataset(tmp_path / "p.h5", pred.take(np.arange(n)))
    write_dataset(tmp_path / "t.h5", truth.take(np.arange(n)))
    assert_clean_error(cli("eval", tmp_path / "p.h5", tmp_path / "t.h5"), 1, "multi-label")
