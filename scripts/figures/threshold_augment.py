"""Make docs/img/threshold_augment.png: one real radiometric frame (FLIR T640, °C) and one
thermal-people frame (with its person boxes), their threshold copies and augmentations, made by
the `thermcli threshold` / `thermcli augment` commands.

    .venv/bin/python scripts/figures/threshold_augment.py   # needs ../shared/data
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    from typer.testing import CliRunner

    from tests.cli.test_threshold_augment_real import people_dataset, radiometric_dataset
    from tests.conftest import SHARED_DATA
    from thermcli.cli.main import app
    from thermcli.io import read_dataset, write_dataset

    runner = CliRunner()

    def thermcli(*args):
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        write_dataset(tmp / "t640.h5", radiometric_dataset(SHARED_DATA))
        write_dataset(tmp / "people.h5", people_dataset(SHARED_DATA))
        thermcli("threshold", "--range", "50:300:100", tmp / "t640.h5", tmp / "t640_thr.h5")
        thermcli("augment", "-n", "3", "--seed", "0", "--rotate", "15", "--crop", "0.8", "--offset", "2",
                 "--noise", "100", "--lowres", "0.4", "--fpn", "60", tmp / "t640.h5", tmp / "t640_aug.h5")
        thermcli("threshold", "-m", "multi-otsu", "--range", "2:4:1", tmp / "people.h5", tmp / "people_thr.h5")
        thermcli("augment", "-n", "3", "--seed", "7", "--rotate", "15", "--crop", "0.8", "--invert", "0.6",
                 "--flip", "0.7", "--blur", "0.5", tmp / "people.h5", tmp / "people_aug.h5")
        t640, t_thr, t_aug = (read_dataset(tmp / f) for f in ("t640.h5", "t640_thr.h5", "t640_aug.h5"))
        people, p_thr, p_aug = (read_dataset(tmp / f) for f in ("people.h5", "people_thr.h5", "people_aug.h5"))

    fig, axes = plt.subplots(2, 7, figsize=(17, 4.6))
    lo, hi = np.nanpercentile(t640.frames[0], (1, 99))
    row = [(t640.frames[0], "FLIR T640, °C"), *((t_thr.frames[i], f"binary level {t_thr.columns['threshold_level'][i]:g}") for i in range(3))]
    for i in range(3):
        c = t_aug.columns
        row.append((t_aug.frames[i], f"aug: {c['aug_angle'][i]:+.0f}°, ×{c['aug_scale'][i]:.2f}, {c['aug_offset'][i]:+.1f} °C"
                    + (", low-res" if c["aug_lowres"][i] > 1 else "")))
    for ax, (image, title) in zip(axes[0], row):
        ax.imshow(image, cmap="inferno", vmin=lo, vmax=hi)
        ax.set_title(title, fontsize=8)
    row = [(people.frames[0], people.boxes[0], "thermal-people + boxes")]
    row += [(p_thr.frames[i], None, f"multi-otsu, warmest of {p_thr.columns['threshold_level'][i]:g}") for i in range(3)]
    for i in range(3):
        c = p_aug.columns
        tags = [f"{c['aug_angle'][i]:+.0f}°"] + (["flip"] if c["aug_flip"][i] else []) + (["inverted"] if c["aug_invert"][i] else [])
        row.append((p_aug.frames[i], p_aug.boxes[i], "aug: " + ", ".join(tags)))
    for ax, (image, boxes, title) in zip(axes[1], row):
        ax.imshow(image)
        for box in [] if boxes is None else boxes:
            if np.all(np.isfinite(box)):
                ax.add_patch(Rectangle(box[:2], box[2], box[3], fill=False, color="lime", lw=1))
        ax.set_title(title, fontsize=8)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.suptitle("thermcli threshold (one copy per level, temperatures kept) and augment (keypoints/boxes follow)", fontsize=10)
    fig.tight_layout()
    out = ROOT / "docs/img/threshold_augment.png"
    fig.savefig(out, dpi=72)
    from PIL import Image  # a 256-colour palette keeps the picture small

    Image.open(out).convert("RGB").quantize(256).save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
