"""Shared fixtures: a CLI runner, small datasets, and the real data in ../shared/data."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# The input-hash cache (thermcli.io.provenance) goes to a folder of this test run, never the
# user's ~/.cache; commands run by the tests (CliRunner, subprocesses) inherit it.
if "THERMCLI_CACHE_DIR" not in os.environ:
    os.environ["THERMCLI_CACHE_DIR"] = tempfile.mkdtemp(prefix="thermcli-test-cache-")


@pytest.fixture
def runner():
    from typer.testing import CliRunner

    return CliRunner()


@pytest.fixture
def cli(runner):
    """Invoke thermcli with a list of strings; returns the typer Result."""
    from thermcli.cli.main import app

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, [str(a) for a in args], input=input)

    return invoke


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or skip with a reason (a user's fresh clone does not have it)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not present at {SHARED_DATA} (only in the project's CI and workspace)")
    return SHARED_DATA


def make_dataset(n=6, h=12, w=10, unit="celsius", *, seed=0, labels=True, keypoints=False, rgb=False, channels=None):
    """A small valid dataset for tests."""
    from thermcli.io import COCO_FLIP_PAIRS, COCO_KEYPOINT_NAMES, COCO_SIGMAS, COCO_SKELETON, Dataset, Meta

    rng = np.random.default_rng(seed)
    shape = (n, h, w) if channels is None else (n, h, w, channels)
    if unit == "celsius":
        frames = (22 + 12 * rng.random(shape)).astype(np.float32)
    elif unit == "kelvin":
        frames = (295 + 12 * rng.random(shape)).astype(np.float32)
    elif unit == "counts":
        frames = rng.integers(0, 2**14, shape, dtype=np.uint16)
    else:
        frames = rng.integers(0, 256, shape, dtype=np.uint8)
    meta = Meta(unit=unit, modality="thermal", class_names=["INH", "EXH"] if labels else None)
    kwargs = {}
    if labels:
        kwargs["labels"] = rng.integers(0, 2, n).astype(np.int64)
    if keypoints:
        meta.keypoint_names = list(COCO_KEYPOINT_NAMES)
        meta.sigmas = list(COCO_SIGMAS)
        meta.skeleton = [list(e) for e in COCO_SKELETON]
        meta.flip_pairs = [list(p) for p in COCO_FLIP_PAIRS]
        kp = np.zeros((n, 1, 17, 3), np.float32)
        kp[..., 0] = rng.random((n, 1, 17)) * w
        kp[..., 1] = rng.random((n, 1, 17)) * h
        kp[..., 2] = 2
        kwargs["keypoints"] = kp
        kwargs["boxes"] = np.tile(np.array([[[0, 0, w, h]]], np.float32), (n, 1, 1))
    if rgb:
        kwargs["rgb"] = rng.integers(0, 256, (n, h * 2, w * 2, 3), dtype=np.uint8)
    kwargs["subject"] = np.array([f"s{i % 3}" for i in range(n)], dtype=object)
    kwargs["timestamp"] = np.arange(n, dtype=np.float64) / 10
    return Dataset(frames=frames, meta=meta, **kwargs)


@pytest.fixture
def small_h5(tmp_path):
    from thermcli.io import write_dataset

    path = tmp_path / "small.h5"
    write_dataset(path, make_dataset())
    return path


def sha256(path: Path) -> str:
    if path.is_dir():
        digest = hashlib.sha256()
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(child.relative_to(path)).encode() + child.read_bytes())
        return digest.hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_clean_error(result, code: int, *needles: str) -> None:
    """Exit ``code``, one line on stderr naming what is at fault, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.output, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output + result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """An empty torch hub cache (``.../hub/checkpoints``, created) under a tmp TORCH_HOME:
    torch.hub.get_dir() follows it; the weights options read only from there."""
    import torch

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    old = torch.hub._hub_dir
    torch.hub._hub_dir = None
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    yield folder
    torch.hub._hub_dir = old


@pytest.fixture
def stop_after(monkeypatch):
    """``stop_after(TaskClass, k)``: request a stop (as Ctrl-C / SIGTERM do) right after training
    batch ``k`` of that task; returns the call counter. For the resume tests of every task."""
    from thermcli import interrupt

    def arm(cls, k: int):
        original = cls.loss
        calls = {"n": 0}

        def loss(self, model, batch):
            out = original(self, model, batch)
            calls["n"] += 1
            if calls["n"] == k:
                interrupt.request()
            return out

        monkeypatch.setattr(cls, "loss", loss)
        return calls

    yield arm
    interrupt.reset()


# ---- adapt: the domains sample data at a tiny scale, and runs shared by the adapt tests ----------

ADAPT_FAST = ["--source-epochs", "2", "--epochs", "2", "--steps-per-epoch", "2", "--batch-size", "16", "--feature-dim", "32", "--disc-hidden", "32", "--threads", "1"]


@pytest.fixture(scope="session")
def domains(tmp_path_factory):
    """The domains sample data at a tiny scale (about 26 frames a file)."""
    from thermcli.io import write_dataset
    from thermcli.synth import domains as gen

    folder = tmp_path_factory.mktemp("domains")
    for name, ds in gen.generate(seed=5, scale=0.05).items():
        write_dataset(folder / name, ds)
    return folder


@pytest.fixture(scope="session")
def adapted(domains, tmp_path_factory):
    """``adapted(method, data)``: ``adapt --method METHOD`` on the shapes (or "au") domains with
    --target-val, FAST and --json, run once per session and shared by the tests that only read the
    run (they write their own files elsewhere). Returns (run folder, the printed summary)."""
    from typer.testing import CliRunner

    from thermcli.cli.main import app

    runs: dict = {}

    def get(method: str, data: str = "shapes"):
        if (method, data) not in runs:
            p = "au_" if data == "au" else ""
            out = tmp_path_factory.mktemp(f"{method}-{data}") / "run"
            args = ["adapt", "--method", method, domains / f"{p}source_train.h5", domains / f"{p}target_train.h5",
                    "--target-val", domains / f"{p}target_test.h5", "--out", out, "--json", *ADAPT_FAST]
            result = CliRunner().invoke(app, [str(a) for a in args])
            assert result.exit_code == 0, result.output
            runs[method, data] = (out, json.loads(result.stdout))
        return runs[method, data]

    return get
