"""OKS AP of a keypoint model on the RGB half of labelled pairs (the teacher's own accuracy).

    python examples/keypoints/teacher_rgb_ap.py runs/teacher/best.pt split/test.h5
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(model_path: str, pairs: str) -> None:
    from thermcli.models.checkpoint import load_checkpoint
    from thermcli.stages import keypoints_data as KD

    model, config, _ = load_checkpoint(model_path, expect_task="keypoints")
    people = KD.load_people(pairs, side="rgb")
    kp, scores = KD.predict_people(model, people, input_size=tuple(config["input_size"]), flip_test=True,
                                   flip_pairs=config["flip_pairs"], in_chans=KD.model_input_chans(config))
    result = KD.evaluate_people(people, kp, scores)
    print(json.dumps({**{k: round(v, 4) for k, v in result.stats.items()}, "pixel_error_rgb_px": result.mean_pixel_error}))


if __name__ == "__main__":
    main(*sys.argv[1:])
