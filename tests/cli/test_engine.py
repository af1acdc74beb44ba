"""One training engine for classify, keypoints and keypoint distillation: a stop mid-epoch resumes
to bit-identical weights, Ctrl-C exits 130 leaving a resumable last.pt, --optimizer and
--weight-decay act on every task, and run folders are locked and never left behind by a failed
run."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import assert_clean_error
from tests.stages.pose_data import make_pose_dataset

torch = pytest.importorskip("torch")

POSE = ["--input-size", "32x32", "--batch-size", "4", "--device", "cpu"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Tiny classify frames, keypoint pairs and a keypoint teacher (trained once)."""
    from typer.testing import CliRunner

    from tests.conftest import make_dataset
    from thermcli.cli.main import app
    from thermcli.io import write_dataset

    root = tmp_path_factory.mktemp("engine")
    ds = make_dataset(n=48, h=12, w=10)
    ds.labels = (np.arange(48) % 2).astype(np.int64)
    write_dataset(root / "frames.h5", ds)
    write_dataset(root / "pairs.h5", make_pose_dataset(12, seed=0))
    result = CliRunner().invoke(app, ["train", str(root / "pairs.h5"), "--task", "keypoints", "--side", "rgb",
                                      "--arch", "vit_tiny", "--epochs", "1", "--out", str(root / "teacher"), *POSE])
    assert result.exit_code == 0, result.output
    (root / "garbage.pt").write_bytes(b"not a checkpoint at all")
    return root


def task_args(data, task: str) -> list:
    """(command and arguments) of a 2-epoch run of each task, without --out."""
    if task == "classify":
        return ["train", data / "frames.h5", "--task", "classify", "--arch", "small_cnn", "--width", "4", "--epochs", "2",
                "--batch-size", "8", "--seed", "3"]
    if task == "keypoints":
        return ["train", data / "pairs.h5", "--task", "keypoints", "--arch", "vit_tiny", "--epochs", "2",
                "--seed", "3", *POSE]
    return ["distill", data / "pairs.h5", "--task", "keypoints", "--teacher", data / "teacher" / "best.pt", "--student",
            "vit_tiny", "--epochs", "2", "--teacher-copies", "2", "--beta", "0.5", "--seed", "3", "--batch-size", "4",
            "--device", "cpu"]


def task_class(task: str):
    if task == "classify":
        from thermcli.stages.train_classify import ClassifyTask

        return ClassifyTask
    if task == "keypoints":
        from thermcli.stages.train_keypoints import KeypointTask

        return KeypointTask
    from thermcli.stages.distill_keypoints import DistillTask

    return DistillTask


TASKS = ["classify", "keypoints", "distill-keypoints"]


def weights(run):
    return torch.load(run / "last.pt", weights_only=True)["state_dict"]


def same_weights(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("task", TASKS)
def test_stop_mid_epoch_resumes_bit_identical(cli, data, tmp_path, stop_after, monkeypatch, task):
    from thermcli import interrupt
    from thermcli.models.checkpoint import read_checkpoint

    args = task_args(data, task)
    full = cli(*args, "--out", tmp_path / "full")
    assert full.exit_code == 0, full.output
    k = 8 if task == "classify" else 3  # classify: 6 batches an epoch; keypoints: 2 (8 training people / 4)
    stop_after(task_class(task), k)
    cut = cli(*args, "--out", tmp_path / "cut")
    assert cut.exit_code == 130, cut.output
    assert "interrupted" in cut.stderr and "Traceback" not in cut.output
    interrupt.reset()
    monkeypatch.undo()
    extra = read_checkpoint(tmp_path / "cut" / "last.pt")["extra"]
    per_epoch = 6 if task == "classify" else 2
    assert extra["position"]["epoch"] == 1 and extra["position"]["step"] == k - per_epoch  # mid-epoch, not its start
    assert extra["epoch"] == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "lock or staging folder left behind"
    resumed = cli(*args, "--out", tmp_path / "cut", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert same_weights(weights(tmp_path / "full"), weights(tmp_path / "cut"))
    rows = [(tmp_path / name / "metrics.csv").read_text().splitlines() for name in ("full", "cut")]
    assert len(rows[0]) == len(rows[1]) == 3
    header = rows[0][0].split(",")
    keep = [i for i, name in enumerate(header) if name != "seconds"]
    for a, b in zip(rows[0][1:], rows[1][1:]):  # the epochs' losses and metrics too, to the last digit
        assert [a.split(",")[i] for i in keep] == [b.split(",")[i] for i in keep]


@pytest.mark.parametrize("task", TASKS)
def test_optimizer_and_weight_decay_act(cli, data, tmp_path, task):
    args = [a for a in task_args(data, task)]
    args[args.index("--epochs") + 1] = "1"
    runs = {"adamw": [], "sgd": ["--optimizer", "sgd"], "decay": ["--weight-decay", "0.5"]}
    if task == "classify":
        runs["clip"] = ["--grad-clip", "1e-3"]
    for name, extra in runs.items():
        result = cli(*args, *extra, "--out", tmp_path / name)
        assert result.exit_code == 0, result.output
    base = weights(tmp_path / "adamw")
    for name in set(runs) - {"adamw"}:
        assert not same_weights(base, weights(tmp_path / name)), name
    import json

    loop = json.loads((tmp_path / "sgd" / "config.json").read_text())
    recorded = loop.get("loop") or loop["train_config"]["loop"]
    assert recorded["optimizer"] == "sgd"


def test_sgd_momentum_buffers_resume(cli, data, tmp_path, stop_after, monkeypatch):
    """SGD's momentum buffers travel in last.pt too (classify, a stop inside the first epoch)."""
    from thermcli import interrupt

    args = [*task_args(data, "classify"), "--optimizer", "sgd", "--weight-decay", "0.01", "--grad-clip", "0.5"]
    assert cli(*args, "--out", tmp_path / "full").exit_code == 0
    stop_after(task_class("classify"), 2)
    assert cli(*args, "--out", tmp_path / "cut").exit_code == 130
    interrupt.reset()
    monkeypatch.undo()
    assert cli(*args, "--out", tmp_path / "cut", "--resume").exit_code == 0
    assert same_weights(weights(tmp_path / "full"), weights(tmp_path / "cut"))


@pytest.mark.slow  # a subprocess importing torch; the stop itself is covered by the tests above
def test_ctrl_c_in_a_keypoint_run_exits_130_and_resumes(data, tmp_path):
    """A real SIGINT to the process: exit 130, one line, a last.pt that --resume finishes."""
    import signal
    import time

    from tests.conftest import REPO
    from thermcli.models.checkpoint import read_checkpoint

    run = tmp_path / "run"
    args = [str(a) for a in task_args(data, "keypoints")]
    args[args.index("--epochs") + 1] = "100000"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "thermcli", *args, "--patience", "0", "--out", str(run)], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while not (run / "last.pt").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    extra = read_checkpoint(run / "last.pt")["extra"]
    done = int(extra["epoch"]) + 1 + (1 if extra.get("position") else 0)
    args[args.index("--epochs") + 1] = str(done + 1)
    resumed = subprocess.run([sys.executable, "-m", "thermcli", *args, "--patience", "0", "--out", str(run), "--resume"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert int(read_checkpoint(run / "last.pt")["extra"]["epoch"]) == done
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# ---- run folder safety ------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_a_locked_run_folder_is_refused_naming_the_holder(cli, data, tmp_path, task):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / ".run.lock").write_text(f"{holder.pid}\n")
        result = cli(*task_args(data, task), "--out", tmp_path / "run")
        assert_clean_error(result, 1, str(holder.pid), "being written")
        assert not (tmp_path / "run").exists()
        assert (tmp_path / ".run.lock").read_text().strip() == str(holder.pid)  # not ours to remove
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_lock_is_taken_over(cli, data, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".run.lock").write_text(f"{dead.pid}\n")
    (tmp_path / f".run.run-{dead.pid}").mkdir()  # its half-built run folder
    args = task_args(data, "classify")
    args[args.index("--epochs") + 1] = "1"
    result = cli(*args, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "last.pt").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_lock_unit(tmp_path):
    from thermcli.errors import DataError
    from thermcli.runs import lock_path, run_lock

    with run_lock(tmp_path / "r") as lock:
        assert lock == lock_path(tmp_path / "r") and lock.read_text().strip() == str(os.getpid())
        with pytest.raises(DataError, match="already open"):
            with run_lock(tmp_path / "r"):
                pass
    assert not lock.exists()


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("failure", ["bad input", "bad weights", "missing parent"])
def test_a_failed_run_leaves_no_run_folder(cli, data, tmp_path, task, failure):
    args = [*task_args(data, task)]
    out = tmp_path / "run"
    if failure == "bad input":
        (tmp_path / "broken.h5").write_bytes(b"\x89HDF\r\n not really")
        args[1] = tmp_path / "broken.h5"
        needle = "broken.h5"
    elif failure == "bad weights":
        if task != "classify":  # a ViT starts from --teacher-weights only: a convolutional encoder here
            args[args.index("vit_tiny")] = "mobilenet_v3_small"
        args += ["--weights", data / "garbage.pt"]
        needle = "garbage.pt"
    else:
        out = tmp_path / "no" / "such" / "run"
        needle = "does not exist"
    result = cli(*args, "--out", out)
    assert_clean_error(result, 1, needle)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "broken.h5") == [], list(tmp_path.iterdir())


def test_force_replaces_an_old_run_only_once_the_new_one_has_a_checkpoint(cli, data, tmp_path):
    args = task_args(data, "classify")
    args[args.index("--epochs") + 1] = "1"
    assert cli(*args, "--out", tmp_path / "run").exit_code == 0
    before = weights(tmp_path / "run")
    result = cli(*args, "--weights", data / "garbage.pt", "--out", tmp_path / "run", "--force")
    assert result.exit_code == 1
    assert same_weights(before, weights(tmp_path / "run"))  # the failed --force run left the old one intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert_clean_error(cli(*args, "--out", tmp_path / "run"), 2, "--out", "exists")


def test_keypoints_cv_loso_one_fold_per_subject(cli, data, tmp_path):
    import json

    args = [*task_args(data, "keypoints")]
    args[args.index("--epochs") + 1] = "1"
    result = cli(*args, "--cv", "loso", "--out", tmp_path / "cv", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [f["subject"] for f in summary["folds"]] == ["s0", "s1", "s2"]
    assert sum(f["people"] for f in summary["folds"]) == 12
    for fold in summary["folds"]:
        assert (tmp_path / "cv" / f"fold-{fold['subject']}" / "last.pt").is_file()
        assert -1 <= fold["AP"] <= 1
    assert summary["AP"]["mean"] == pytest.approx(float(np.mean([f["AP"] for f in summary["folds"]])))
    assert (tmp_path / "cv" / "cv.json").is_file()
    from thermcli.models.checkpoint import read_checkpoint

    config = read_checkpoint(tmp_path / "cv" / "fold-s1" / "last.pt")["config"]
    assert config["provenance"]["held_out_subject"] == "s1"
    assert_clean_error(cli(*args, "--cv", "loso", "--val", data / "pairs.h5", "--out", tmp_path / "x"), 2, "--val")


def test_rng_state_round_trips_through_a_checkpoint(tmp_path):
    """torch, NumPy and Python's global generators: saved in last.pt (weights_only) and restored."""
    import random

    from thermcli.models.checkpoint import read_checkpoint, save_checkpoint
    from thermcli.stages.trainer import batch_rng, rng_state, set_rng_state

    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    random.gauss(0, 1)  # a cached Gaussian in Python's state too
    save_checkpoint(tmp_path / "last.pt", state_dict={}, config={"arch": "x"}, extra={"rng": rng_state()})
    first = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)], random.gauss(0, 1))
    set_rng_state(read_checkpoint(tmp_path / "last.pt")["extra"]["rng"])
    again = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)], random.gauss(0, 1))
    assert torch.equal(first[0], again[0]) and np.array_equal(first[1], again[1]) and first[2:] == again[2:]
    a, b = batch_rng(5, 1, 2).random(4), batch_rng(5, 1, 2).random(4)
    assert np.array_equal(a, b) and not np.array_equal(a, batch_rng(5, 1, 3).random(4))
