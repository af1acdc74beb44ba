"""The example pipelines (examples/<pipeline>/Makefile) run end to end at their tiniest settings,
write only under OUT, produce valid artifacts, and a second `make` has nothing to do (`make -q`).

Each test runs the Makefile in place with OUT in a temporary folder and THERMCLI pointing at this
checkout's code (`python -m thermcli` with PYTHONPATH), `make -j2` as a user would.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make not installed")

THERMCLI = f"{sys.executable} -m thermcli"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env["OMP_NUM_THREADS"] = "1"  # two steps side by side on a 2-core machine
    env.pop("MAKEFLAGS", None)
    env.pop("MFLAGS", None)
    return env


def make(example: str | Path, *args: str, check: bool = True, jobs: int = 2) -> subprocess.CompletedProcess:
    directory = example if isinstance(example, Path) else REPO / "examples" / example
    cmd = ["make", "-C", str(directory), f"-j{jobs}", *args]
    result = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=900)
    if check:
        assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def up_to_date(example: str | Path, *args: str) -> int:
    """Exit status of `make -q` (0: nothing to do)."""
    return make(example, "-q", *args, check=False, jobs=1).returncode


def would_run(example: str | Path, *args: str) -> str:
    """The commands `make -n` would run (nothing is run)."""
    return make(example, "-n", *args, jobs=1).stdout


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def classification(path: Path) -> dict:
    doc = json.loads(path.read_text())
    assert doc["provenance"]["command"] == "thermcli eval"
    metrics = doc["metrics"]["classification"]
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert 0.0 <= metrics["balanced_accuracy"] <= 1.0
    return metrics


def labelled(path: Path) -> int:
    from thermcli.io import open_dataset

    return int((open_dataset(path).read_field("labels") >= 0).sum())


# ---------------------------------------------------------------- breathing (sample data)

BREATHING_TINY = ("THERMCLI=" + THERMCLI, "EPOCHS=1", "PATIENCE=1", "SOURCE_SCALE=0.25", "TREES=10")


def test_breathing_makefile_headline_then_nothing_to_do(tmp_path):
    """`make metrics`: split → source → threshold → augment → transfer → distill → ensemble → eval."""
    from thermcli.io import open_dataset

    out = tmp_path / "out"
    sample_before = tree_digest(REPO / "sample_data")
    make("breathing", "metrics", f"OUT={out}", *BREATHING_TINY)

    # the split is by subject: no subject in two parts
    parts = {p: set(np.unique(open_dataset(out / "split" / f"{p}.h5").read_field("subject")).tolist())
             for p in ("train", "val", "test")}
    assert all(parts.values())
    assert not (parts["train"] & parts["test"]) and not (parts["train"] & parts["val"]) and not (parts["val"] & parts["test"])
    # threshold → augment: every training frame + 3 threshold copies of it, then one augmented copy kept beside each
    n_train = open_dataset(out / "split" / "train.h5").n
    assert open_dataset(out / "thr.h5").n == 4 * n_train
    assert open_dataset(out / "train_plus.h5").n == 8 * n_train
    for stage in ("source", "source_student", "transfer", "student"):
        assert (out / stage / "best.pt").is_file()
        assert (out / stage / "metrics.csv").is_file()
    assert (out / "ensemble" / "ensemble.skops").is_file()
    # the headline: the ensemble on the unseen test subjects, every labelled test frame scored
    assert classification(out / "metrics.json")["n"] == labelled(out / "split" / "test.h5")
    # outputs only under OUT: sample_data and the example folder untouched
    assert tree_digest(REPO / "sample_data") == sample_before
    assert not (REPO / "examples" / "breathing" / "out").exists()

    # a second make has nothing to do
    assert up_to_date("breathing", "metrics", f"OUT={out}", *BREATHING_TINY) == 0
    # the prerequisites are right: a newer augmented set reruns what follows it, nothing before it
    os.utime(out / "train_plus.h5")
    plan = would_run("breathing", "metrics", f"OUT={out}", *BREATHING_TINY)
    for step in (f"--out {out / 'transfer'} ", f"--out {out / 'student'} ", f"--out {out / 'ensemble'} ",
                 f"--output {out / 'metrics.json'} "):
        assert step in plan
    for step in (f"--out {out / 'source'} ", f"--out {out / 'source_student'} ", " split ", " threshold ", " augment ", " synth "):
        assert step not in plan


@pytest.mark.slow
def test_breathing_makefile_all_stages(tmp_path):
    """`make` (all): also the from-scratch baseline and every stage's eval on the test subjects."""
    out = tmp_path / "out"
    make("breathing", f"OUT={out}", *BREATHING_TINY)
    n_test = labelled(out / "split" / "test.h5")
    for stage in ("source", "baseline", "transfer", "student"):
        assert classification(out / "eval" / f"{stage}.json")["n"] == n_test
    assert classification(out / "metrics.json")["n"] == n_test
    assert up_to_date("breathing", f"OUT={out}", *BREATHING_TINY) == 0


# ---------------------------------------------------------------- adaptation (sample data)

ADAPT_TINY = ("THERMCLI=" + THERMCLI, "EPOCHS=1", "SOURCE_EPOCHS=1",
              "ADAPT_EXTRA=--steps-per-epoch 2 --feature-dim 32 --disc-hidden 32")


def test_adaptation_makefile_adda_then_nothing_to_do(tmp_path):
    """ADDA → eval (the source-only and DANN evals run in the slow test below)."""
    out = tmp_path / "out"
    domains = REPO / "sample_data" / "domains"
    target = f"{out}/eval/adda.json"
    make("adaptation", target, f"OUT={out}", *ADAPT_TINY)
    metrics = classification(out / "eval" / "adda.json")
    assert metrics["n"] == labelled(domains / "target_test.h5")
    assert len(metrics["classes"]) == 6
    assert json.loads((out / "eval" / "adda.json").read_text())["source"].endswith("best.pt")
    assert (out / "adda" / "source.pt").is_file() and not (out / "dann").exists()
    assert up_to_date("adaptation", target, f"OUT={out}", *ADAPT_TINY) == 0
    # a newer target set reruns the adaptation and its eval
    plan = would_run("adaptation", target, f"OUT={out}", *ADAPT_TINY, "-W", str(domains / "target_train.h5"))
    assert plan.count(" adapt ") == 1 and plan.count(" eval ") == 1


@pytest.mark.slow
def test_adaptation_makefile_all_and_au(tmp_path):
    out = tmp_path / "out"
    make("adaptation", "all", "au", f"OUT={out}", *ADAPT_TINY)
    n_test = labelled(REPO / "sample_data" / "domains" / "target_test.h5")
    for name in ("source_only", "adda", "dann"):
        assert classification(out / "eval" / f"{name}.json")["n"] == n_test
    assert json.loads((out / "eval" / "source_only.json").read_text())["source"].endswith("source_only.pt")
    # the source-only eval gives adapt's own source-only target numbers
    adda = json.loads((out / "adda" / "metrics.json").read_text())
    assert classification(out / "eval" / "source_only.json")["accuracy"] == pytest.approx(adda["target_acc_source_only"], abs=1e-12)
    assert "dann" in (out / "dann" / "config.json").read_text().lower()
    summary = json.loads((out / "au_adda" / "summary.json").read_text())
    assert summary["label_kind"] == "multilabel"
    assert up_to_date("adaptation", "all", "au", f"OUT={out}", *ADAPT_TINY) == 0


@pytest.mark.slow
def test_adda_digits_makefile_second_make_does_nothing(tmp_path, shared_data):
    """examples/adda-digits writes data/ and runs/ beside its Makefile: run a copy of it, tiny."""
    if not (shared_data / "digits").is_dir():
        pytest.skip("no ../shared/data/digits")
    copy = tmp_path / "adda-digits"
    shutil.copytree(REPO / "examples" / "adda-digits", copy, ignore=shutil.ignore_patterns("data", "runs"))
    tiny = (f"ROOT={REPO}", f"DIGITS={shared_data / 'digits'}", "SEEDS=0",
            "ADAPT=--method adda --seeds 0 --source-epochs 1 --epochs 1 --steps-per-epoch 2 --batch-size 64 "
            "--normalize domain --threads 1 --device cpu --force")
    make(copy, *tiny)
    table = (copy / "table.md").read_text()
    assert "MNIST → USPS" in table and "USPS → MNIST" in table and "adapted-on images" in table
    assert up_to_date(copy, *tiny) == 0
    # the transductive scores are `thermcli eval` runs: on the test set they give adapt's own numbers
    run = copy / "runs" / "adda-mnist2usps"
    trans = json.loads((run / "transductive.json").read_text())
    assert trans["data"].endswith("usps_train.h5") and trans["seeds"] == [0]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "transductive.py", str(run), "data/usps_test.h5"], cwd=copy, env=env,
                         capture_output=True, text=True, check=True).stdout
    summary = json.loads((run / "summary.json").read_text())
    on_test = json.loads(out)
    for key in ("source_only", "adapted"):
        assert on_test[key]["values"] == pytest.approx(summary[f"target_acc_{key}"]["values"], abs=1e-12)


# ---------------------------------------------------------------- breathing (real data)


@pytest.mark.slow
def test_breathing_real_target(tmp_path, shared_data):
    if not (shared_data / "breathing-spirometry").is_dir():
        pytest.skip("no ../shared/data/breathing-spirometry")
    out = tmp_path / "out"
    args = (f"OUT={out}", "THERMCLI=" + THERMCLI, f"PYTHON={sys.executable}", "REAL_EPOCHS=1", "REAL_FRAMES=4")
    make("breathing", "real", *args)
    n_test = labelled(out / "real" / "split" / "test.h5")
    assert classification(out / "real" / "metrics.json")["n"] == n_test
    assert classification(out / "real" / "frames1" / "metrics.json")["n"] == n_test
    assert up_to_date("breathing", "real", *args) == 0


# ---------------------------------------------------------------- keypoints (sample data)

KEYPOINTS_TINY = ("THERMCLI=" + THERMCLI, "EPOCHS=1", "COPIES=1", "TEACHER_COPIES=1", "INPUT_SIZE=32x32", "FRAMES=0:2")


@pytest.mark.slow  # ~25 s of mostly start-up: kept out of the default run to hold it under a minute
def test_keypoints_makefile_runs_and_second_make_does_nothing(tmp_path):
    import cv2

    from thermcli.io import open_dataset

    out = tmp_path / "out"
    make("keypoints", f"OUT={out}", *KEYPOINTS_TINY)
    test = open_dataset(out / "split" / "test.h5")
    assert set(np.unique(test.read_field("subject")).tolist()) == {"s04"}
    assert open_dataset(out / "train_aug.h5").n == 2 * open_dataset(out / "split" / "train.h5").n
    for name in ("oks.json", "teacher_on_thermal.json"):
        doc = json.loads((out / name).read_text())
        oks = doc["metrics"]["oks"]
        assert -1.0 <= oks["AP"] <= 1.0 and 0.0 <= oks["AR"] <= 1.0 or oks["AR"] == -1.0
        assert set(oks["per_keypoint"]) == set(test.meta.keypoint_names)
    assert json.loads((out / "oks.json").read_text())["source"].endswith(str(Path("student") / "best.pt"))
    sheet = cv2.imread(str(out / "annotated.png"))
    assert sheet is not None and sheet.ndim == 3 and sheet.shape[0] > 60 and sheet.shape[1] > 80
    assert up_to_date("keypoints", f"OUT={out}", *KEYPOINTS_TINY) == 0
    # a newer teacher reruns the student, both evals and the picture, not the data steps
    plan = would_run("keypoints", f"OUT={out}", *KEYPOINTS_TINY, "-W", str(out / "teacher" / "best.pt"))
    assert " distill " in plan and plan.count(" eval ") == 2 and " annotate " in plan
    assert " align " not in plan and " augment " not in plan and " train " not in plan


@pytest.mark.slow
def test_keypoints_real_target(tmp_path, shared_data):
    """`make real`: the tug-trained RGB teacher on ../shared/data/coco-keypoints (real photos)."""
    if not (shared_data / "coco-keypoints" / "test_coco.json").is_file():
        pytest.skip("no ../shared/data/coco-keypoints")
    import cv2

    out = tmp_path / "out"
    make("keypoints", "real", f"OUT={out}", *KEYPOINTS_TINY)
    oks = json.loads((out / "real" / "teacher_on_coco.json").read_text())["metrics"]["oks"]
    assert 0.0 <= oks["AP"] <= 1.0
    assert cv2.imread(str(out / "real" / "teacher_on_coco.png")) is not None
    assert not (out / "student").exists()  # real needs the teacher only
    assert up_to_date("keypoints", "real", f"OUT={out}", *KEYPOINTS_TINY) == 0
