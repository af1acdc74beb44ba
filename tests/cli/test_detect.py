"""``train --task detect`` end to end on tiny synthetic frames: train → predict → eval bbox,
a stop mid-epoch resumes to bit-identical weights, Ctrl-C leaves a resumable last.pt, --seed
reproduces, --weights loads torchvision's published layout and thermcli checkpoints, and bad
labels are one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import assert_clean_error

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

ARCH = "fasterrcnn_mobilenet_v3_large_320_fpn"
FAST = ["--task", "detect", "--arch", ARCH, "--input-size", "64x64", "--batch-size", "4", "--device", "cpu"]


def people_frames(n: int = 8, seed: int = 0, unit: str = "celsius"):
    """64×64 °C frames with 1–2 warm upright rectangles (people, class 1) and sometimes a warm
    squat one (a dog, class 0) on a 20 °C background; boxes as the schema stores them."""
    from thermcli.io import Dataset, Meta

    rng = np.random.default_rng(seed)
    frames = (20 + rng.normal(0, 0.3, (n, 64, 64))).astype(np.float32)
    boxes = np.full((n, 3, 4), np.nan, np.float32)
    classes = np.full((n, 3), -1, np.int32)
    for i in range(n):
        for p in range(int(rng.integers(1, 3))):
            w, h = int(rng.integers(8, 14)), int(rng.integers(20, 30))
            x, y = int(rng.integers(p * 32, p * 32 + 32 - w)), int(rng.integers(0, 64 - h))
            frames[i, y:y + h, x:x + w] = 34 + rng.normal(0, 0.3)
            boxes[i, p], classes[i, p] = (x, y, w, h), 1
        if rng.random() < 0.5:
            x, y = int(rng.integers(0, 40)), int(rng.integers(50, 56))
            frames[i, y:y + 8, x:x + 20] = 37
            boxes[i, 2], classes[i, 2] = (x, y, 20, 8), 0
    if unit == "intensity":
        frames = np.clip((frames - 15) * 10, 0, 255).astype(np.uint8)
    meta = Meta(unit=unit, modality="thermal", box_class_names=["dog", "person"])
    return Dataset(frames=frames, meta=meta, boxes=boxes, box_classes=classes,
                   subject=np.array([f"s{i // 2}" for i in range(n)]))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from thermcli.io import write_dataset

    root = tmp_path_factory.mktemp("detect")
    write_dataset(root / "people.h5", people_frames(8))
    write_dataset(root / "val.h5", people_frames(4, seed=1))
    write_dataset(root / "grey.h5", people_frames(4, seed=2, unit="intensity"))
    return root


def weights(run):
    return torch.load(run / "last.pt", weights_only=True)["state_dict"]


def same_weights(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def args(data, *extra):
    return ["train", data / "people.h5", *FAST, "--val", data / "val.h5", "--seed", "3", *extra]


def test_train_predict_eval_annotate(cli, data, tmp_path):
    run = tmp_path / "run"
    result = cli(*args(data, "--epochs", "1"), "--out", run)
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "detect" and config["box_class_names"] == ["dog", "person"]
    assert "val_AP50" in (run / "metrics.csv").read_text().splitlines()[0]
    pred = tmp_path / "pred.h5"
    result = cli("predict", run / "best.pt", data / "val.h5", pred)
    assert result.exit_code == 0, result.output
    from thermcli.io import read_dataset

    ds = read_dataset(pred)
    assert ds.boxes.shape[0] == 4 and ds.boxes.shape[2] == 4
    assert ds.scores.shape == ds.boxes.shape[:2] and ds.box_classes.shape == ds.boxes.shape[:2]
    present = np.isfinite(ds.scores)
    assert present.any()  # score_thresh 0.001: an untrained detector still proposes boxes
    assert ((ds.box_classes[present] >= 0) & (ds.box_classes[present] < 2)).all()
    assert (np.isfinite(ds.boxes).all(-1) == present).all()
    result = cli("eval", pred, data / "val.h5", "--metric", "bbox", "--json")
    assert result.exit_code == 0, result.output
    assert "AP50" in result.stdout
    sheet = tmp_path / "sheet.png"
    result = cli("annotate", data / "val.h5", sheet, "--pred", pred)
    assert result.exit_code == 0, result.output
    assert sheet.stat().st_size > 0
    # the grey 8-bit frames (one channel) go through the same detector
    result = cli("predict", run / "best.pt", data / "grey.h5", tmp_path / "grey_pred.h5")
    assert result.exit_code == 0, result.output


@pytest.mark.slow  # two 4-epoch trainings
def test_detector_learns_the_synthetic_people(cli, data, tmp_path):
    """Not a stub: the detector's own losses (RPN objectness and box, class, box regression) fall
    when it trains on the same warm rectangles for a few epochs, and with --lr 0 they do not."""
    losses = {}
    for name, lr in (("learn", "0.003"), ("still", "0")):
        run = tmp_path / name
        result = cli("train", data / "people.h5", *FAST, "--val", data / "val.h5", "--epochs", "4", "--lr", lr,
                     "--patience", "0", "--scheduler", "none", "--no-augment", "--out", run)
        assert result.exit_code == 0, result.output
        header, *rows = (run / "metrics.csv").read_text().splitlines()
        col = header.split(",").index("train_loss")
        losses[name] = [float(r.split(",")[col]) for r in rows]
    assert losses["learn"][-1] < 0.6 * losses["learn"][0], losses
    assert losses["still"][-1] > 0.9 * losses["still"][0], losses


@pytest.fixture
def stop_after(monkeypatch):
    from thermcli import interrupt
    from thermcli.stages.train_detect import DetectTask

    def arm(k: int):
        original = DetectTask.loss
        calls = {"n": 0}

        def loss(self, model, batch):
            out = original(self, model, batch)
            calls["n"] += 1
            if calls["n"] == k:
                interrupt.request()
            return out

        monkeypatch.setattr(DetectTask, "loss", loss)

    yield arm
    interrupt.reset()


def test_stop_mid_epoch_resumes_bit_identical(cli, data, tmp_path, stop_after, monkeypatch):
    from thermcli import interrupt
    from thermcli.models.checkpoint import read_checkpoint

    a = args(data, "--epochs", "2")
    full = cli(*a, "--out", tmp_path / "full")
    assert full.exit_code == 0, full.output
    stop_after(3)  # 2 batches an epoch: the stop falls after the first batch of epoch 2
    cut = cli(*a, "--out", tmp_path / "cut")
    assert cut.exit_code == 130, cut.output
    assert "interrupted" in cut.stderr and "Traceback" not in cut.output
    interrupt.reset()
    monkeypatch.undo()
    extra = read_checkpoint(tmp_path / "cut" / "last.pt")["extra"]
    assert extra["position"]["epoch"] == 1 and extra["position"]["step"] == 1
    resumed = cli(*a, "--out", tmp_path / "cut", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert same_weights(weights(tmp_path / "full"), weights(tmp_path / "cut"))
    rows = [(tmp_path / n / "metrics.csv").read_text().splitlines() for n in ("full", "cut")]
    keep = [i for i, name in enumerate(rows[0][0].split(",")) if name != "seconds"]
    for x, y in zip(rows[0][1:], rows[1][1:]):
        assert [x.split(",")[i] for i in keep] == [y.split(",")[i] for i in keep]


def test_seed_reproduces_and_changes(cli, data, tmp_path):
    a = ["train", data / "people.h5", *FAST, "--val", data / "val.h5", "--epochs", "1"]
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        result = cli(*a, "--seed", seed, "--out", tmp_path / name)
        assert result.exit_code == 0, result.output
    assert same_weights(weights(tmp_path / "a"), weights(tmp_path / "b"))
    assert not same_weights(weights(tmp_path / "a"), weights(tmp_path / "c"))


def test_weights_torchvision_layout_and_thermcli_checkpoint(cli, data, tmp_path):
    """A COCO checkpoint as torchvision publishes it (91 classes; built here with weights=None,
    never downloaded) starts every tensor but the class layers; a thermcli detect checkpoint too."""
    import torchvision

    torch.manual_seed(7)
    coco = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None)
    torch.save(coco.state_dict(), tmp_path / "fasterrcnn_coco.pth")
    run = tmp_path / "from_coco"
    result = cli(*args(data, "--epochs", "1", "--lr", "0"), "--weights", tmp_path / "fasterrcnn_coco.pth", "--out", run)
    assert result.exit_code == 0, result.output
    trained = weights(run)
    key = "net.backbone.body.0.0.weight"
    assert torch.equal(trained[key], coco.state_dict()[key[4:]])
    config = json.loads((run / "config.json").read_text())
    assert config["weights"]["loaded"] > 0 and config["weights"]["sha256"]
    # a thermcli checkpoint (e.g. synthetic people) → another run
    again = tmp_path / "from_run"
    result = cli(*args(data, "--epochs", "1", "--lr", "0"), "--weights", run / "best.pt", "--out", again)
    assert result.exit_code == 0, result.output
    assert torch.equal(weights(again)[key], trained[key])
    # weights of another architecture: one line, nothing written
    other = torchvision.models.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)
    torch.save(other.state_dict(), tmp_path / "ssd.pth")
    bad = cli(*args(data, "--epochs", "1"), "--weights", tmp_path / "ssd.pth", "--out", tmp_path / "bad")
    assert_clean_error(bad, 1, "ssd.pth")
    assert not (tmp_path / "bad").exists()


def _write_bad(tmp_path, change):
    from thermcli.io import write_dataset

    ds = people_frames(4)
    change(ds)
    path = tmp_path / "bad.h5"
    write_dataset(path, ds)
    return path


@pytest.mark.parametrize("case,needle", [
    ("outside", "outside"), ("no_boxes", "no boxes"), ("class", "class 5"), ("missing", "has no boxes"),
])
def test_bad_labels_are_one_line_errors(cli, tmp_path, case, needle):
    def change(ds):
        if case == "outside":
            ds.boxes[1, 0] = (50, 10, 30, 20)
        elif case == "no_boxes":
            ds.boxes[:] = np.nan
        elif case == "class":
            ds.box_classes[2, 0] = 5
        else:
            ds.boxes, ds.box_classes = None, None

    path = _write_bad(tmp_path, change)
    before = path.read_bytes()
    result = cli("train", path, *FAST, "--epochs", "1", "--out", tmp_path / "run")
    assert_clean_error(result, 1, "bad.h5", needle)
    assert not (tmp_path / "run").exists()
    assert path.read_bytes() == before


def test_inapplicable_options_are_refused(cli, data, tmp_path):
    result = cli(*args(data, "--epochs", "1"), "--sigma", "3", "--out", tmp_path / "r")
    assert_clean_error(result, 2, "--sigma", "does not apply")
    result = cli(*args(data, "--epochs", "1"), "--arch", "resnet18", "--out", tmp_path / "r")
    assert_clean_error(result, 2, "--arch")
