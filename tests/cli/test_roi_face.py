"""``roi --anchor face``: face-box sub-regions tracked from a face detector, end to end.

The detector is a torchvision Faster R-CNN built from a state dict in the test (no training):
its class layer is set so that every proposal is a face with score ≈ 1 (``always``), or none is
(``never``), which makes the detections' presence known while the boxes come from the network.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from tests.conftest import assert_clean_error
from thermcli.ops.face_regions import FACE_REGIONS, face_subregions
from thermcli.ops.roi import box_mask

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

REGIONS = ["face", *FACE_REGIONS]


def faces_dataset(n: int = 6):
    """64×64 °C frames of one recording, a warm face block drifting right, noise elsewhere."""
    from thermcli.io import Dataset, Meta

    rng = np.random.default_rng(0)
    frames = (22 + rng.normal(0, 0.5, (n, 64, 64))).astype(np.float32)
    for i in range(n):
        frames[i, 16:48, 14 + i:38 + i] = 34 + rng.normal(0, 0.5, (32, 24))
    return Dataset(frames=frames, meta=Meta(unit="celsius", modality="thermal"),
                   sequence=np.array(["rec"] * n), timestamp=np.arange(n, dtype=np.float64) / 5)


def face_model(path, *, always: bool):
    from thermcli.io.checkpoint import save_checkpoint
    from thermcli.models.registry import create_model

    kwargs = {"arch": "fasterrcnn_mobilenet_v3_large_320_fpn", "num_classes": 1, "min_size": 64, "max_size": 64,
              "size": [64, 64]}
    torch.manual_seed(0)
    model = create_model("detector", **kwargs)
    state = model.state_dict()
    state["net.roi_heads.box_predictor.cls_score.weight"].zero_()
    state["net.roi_heads.box_predictor.cls_score.bias"].copy_(torch.tensor([-10.0, 10.0] if always else [10.0, -10.0]))
    state["net.roi_heads.box_predictor.bbox_pred.weight"].zero_()
    state["net.roi_heads.box_predictor.bbox_pred.bias"].zero_()
    save_checkpoint(path, state_dict=state, config={"arch": "detector", "model_kwargs": kwargs, "task": "detect",
                                                   "box_class_names": ["face"], "input_kind": "celsius"})
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from thermcli.io import write_dataset

    root = tmp_path_factory.mktemp("roiface")
    write_dataset(root / "faces.h5", faces_dataset())
    face_model(root / "always.pt", always=True)
    face_model(root / "never.pt", always=False)
    return root


def rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_face_regions_follow_the_tracked_box(cli, files, tmp_path):
    from thermcli.io import read_dataset

    out = tmp_path / "out"
    result = cli("roi", files / "faces.h5", out, "--anchor", "face", "--face-model", files / "always.pt",
                 "--face-smooth", "1", "--no-plots", "--device", "cpu")
    assert result.exit_code == 0, result.output
    table = rows(out / "series.csv")
    frames = read_dataset(files / "faces.h5").frames
    assert len(table) == len(frames)
    for row, frame in zip(table, frames):
        assert row["face_lost"] == "0" and float(row["face_score"]) > 0.99
        face = np.array([float(row[f"face_{k}"]) for k in "xywh"])
        boxes = {"face": face, **{k: v[0] for k, v in face_subregions(face[None]).items()}}
        for name in REGIONS:
            mask = box_mask(frame.shape, boxes[name])
            assert int(float(row[f"{name}.area_px"])) == int(mask.sum())
            if mask.any():
                assert float(row[f"{name}.mean"]) == pytest.approx(float(frame[mask].mean()), rel=1e-5)
    summary = json.loads((out / "summary.json").read_text())
    assert sorted({r["region"] for r in summary["summaries"]}) == sorted(REGIONS)


def test_no_face_means_lost_frames_nan_and_a_warning(cli, files, tmp_path):
    out = tmp_path / "out"
    result = cli("roi", files / "faces.h5", out, "--anchor", "face", "--face-model", files / "never.pt",
                 "--no-plots", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "detected in 0 of 6 frames" in result.output
    table = rows(out / "series.csv")
    assert all(r["face_lost"] == "1" and r["face_x"] == "nan" and r["face_score"] == "nan" for r in table)
    assert all(r["nose.mean"] == "nan" and float(r["nose.area_px"]) == 0 for r in table)


def test_stage_holds_the_box_over_short_misses(tmp_path, files):
    """Known detections with gaps → held and lost frames, and run_roi's statistics on those boxes."""
    from thermcli.io import read_dataset
    from thermcli.stages.roi import RoiConfig, run_roi
    from thermcli.stages.roi.face import FaceTracking, face_columns, face_regions

    box = np.array([[14.0, 16.0, 24.0, 32.0]])
    detections = [(box + [i, 0, 0, 0], np.array([0.9])) for i in range(6)]
    detections[2] = (np.zeros((0, 4)), np.zeros(0))
    detections[4] = (box, np.array([0.3]))  # below --face-score
    detections[5] = (np.zeros((0, 4)), np.zeros(0))
    columns, counts = face_columns(detections, ["rec"] * 6, FaceTracking(model=files / "always.pt", hold=1, alpha=1.0))
    assert counts == {"frames": 6, "detected": 3, "held": 2, "lost": 1}
    assert columns["face_held"].tolist() == [0, 0, 1, 0, 1, 0] and columns["face_lost"].tolist() == [0, 0, 0, 0, 0, 1]
    assert columns["face_x"][2] == columns["face_x"][1] == 15.0
    result = run_roi(files / "faces.h5", tmp_path / "out", RoiConfig(regions=tuple(face_regions()), plots=False),
                     provenance={}, frame_columns=columns)
    frames = read_dataset(files / "faces.h5").frames
    for i in range(5):
        mask = box_mask(frames[i].shape, face_subregions(columns["face_face"][i:i + 1])["forehead"][0])
        assert result.series["forehead.mean"][i] == pytest.approx(float(frames[i][mask].mean()), rel=1e-6)
    assert np.isnan(result.series["forehead.mean"][5])


@pytest.mark.parametrize(("extra", "code", "needle"), [
    (["--anchor", "face"], 2, "--face-model"),
    (["--regions", "REGIONS", "--face-model", "MODEL"], 2, "--face-model"),
    (["--anchor", "face", "--face-model", "MODEL", "--face-smooth", "0"], 2, "--face-smooth"),
    (["--anchor", "face", "--face-model", "MODEL", "--face-score", "1.5"], 2, "--face-score"),
    (["--anchor", "face", "--face-model", "MODEL", "--face-hold", "-1"], 2, "--face-hold"),
    (["--anchor", "face", "--face-model", "DATA"], 1, "faces.h5"),
])
def test_bad_face_options_are_one_line(cli, files, tmp_path, extra, code, needle):
    regions = tmp_path / "r.json"
    regions.write_text(json.dumps([{"name": "a", "box": [0, 0, 4, 4]}]))
    swap = {"REGIONS": str(regions), "MODEL": str(files / "always.pt"), "DATA": str(files / "faces.h5")}
    out = tmp_path / "out"
    result = cli("roi", files / "faces.h5", out, *[swap.get(a, a) for a in extra], "--no-plots")
    assert_clean_error(result, code, needle)
    assert not out.exists()
