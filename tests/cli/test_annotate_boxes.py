"""annotate draws detection results: predicted boxes labelled with class and score, true boxes
with their class (the boxes `eval --metric bbox` scores)."""

from __future__ import annotations

import numpy as np


def test_annotate_draws_predicted_boxes_with_scores_and_true_boxes(cli, tmp_path, monkeypatch):
    from tests.metrics.test_bbox import _datasets
    from thermcli.io import write_dataset
    from thermcli.ops import draw

    gt, pred = _datasets(np.random.default_rng(2))
    write_dataset(tmp_path / "gt.h5", gt)
    write_dataset(tmp_path / "pred.h5", pred)
    drawn = []
    original = draw.draw_box

    def record(image, box, *, scale, style="pred", label=None):
        if np.isfinite(box).all():
            drawn.append((style, label, [float(v) for v in box]))
        return original(image, box, scale=scale, style=style, label=label)

    monkeypatch.setattr(draw, "draw_box", record)
    result = cli("annotate", tmp_path / "gt.h5", tmp_path / "out", "--pred", tmp_path / "pred.h5")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").glob("*.png"))) == len(gt)
    names = gt.meta.box_class_names
    expected_pred = [(f"{names[int(c)]} {float(s):.2f}", b.tolist())
                     for b, c, s in zip(pred.boxes.reshape(-1, 4), pred.box_classes.ravel(), pred.scores.ravel())
                     if np.isfinite(b).all() and np.isfinite(s)]
    expected_gt = [(names[int(c)], b.tolist()) for b, c in zip(gt.boxes.reshape(-1, 4), gt.box_classes.ravel())
                   if np.isfinite(b).all()]
    got_pred = [(label, box) for style, label, box in drawn if style == "pred"]
    got_gt = [(label, box) for style, label, box in drawn if style == "gt"]
    assert got_pred == [(label, np.float32(box).tolist()) for label, box in expected_pred]
    assert got_gt == [(label, np.float32(box).tolist()) for label, box in expected_gt]
    # --no-gt leaves only the predictions
    drawn.clear()
    assert cli("annotate", tmp_path / "gt.h5", tmp_path / "sheet.png", "--pred", tmp_path / "pred.h5", "--no-gt").exit_code == 0
    assert drawn and all(style == "pred" for style, _, _ in drawn)
