#!/usr/bin/env bash
# Thermal keypoints on sample_data/tug (4 subjects, 80x60 frames): align RGB to thermal →
# split by subject (s04 unseen) → augment the training pairs → RGB teacher on RGB crops →
# thermal MobileNetV3-Small student distilled with β = 0.4 and NO thermal labels → OKS on the
# unseen subject → annotated frames. Small crops and few epochs so it runs in ~2–3 min on 2 cores;
# examples/keypoints/measure_tug.sh holds the longer measured runs.
set -euo pipefail
OUT=${DEMO_OUT:-demo_out}/keypoints
mkdir -p "$OUT"
T="python -m thermcli"  # the checkout's code, also when an older thermcli is installed
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
$T align sample_data/tug/thermal.h5 sample_data/tug/rgb.h5 "$OUT/pairs.h5" \
    --transform sample_data/tug/homography.json --apply --max-skew 60ms --clock-offset 20ms --force
$T split "$OUT/pairs.h5" "$OUT/split" --by subject --val s03 --test s04 --force
$T augment "$OUT/split/train.h5" "$OUT/train_aug.h5" --copies 3 --keep-original --seed 0 --force
$T train "$OUT/train_aug.h5" --val "$OUT/split/val.h5" --task keypoints --side rgb --arch mobilenet_v3_small \
    --input-size 64x48 --sigma 1.5 --epochs 8 --batch-size 8 --lr 2e-3 --device cpu --seed 0 \
    --out "$OUT/teacher" --force
$T distill "$OUT/train_aug.h5" --task keypoints --teacher "$OUT/teacher/best.pt" --student mobilenet_v3_small \
    --beta 0.4 --target teacher --teacher-copies 4 --epochs 8 --batch-size 8 --lr 2e-3 --device cpu --seed 0 \
    --out "$OUT/student" --force
$T eval "$OUT/student/best.pt" "$OUT/split/test.h5" --metric oks --output "$OUT/oks.json" --force
$T annotate "$OUT/split/test.h5" "$OUT/annotated.png" --model "$OUT/student/best.pt" --frames 0:6 --columns 3 \
    --device cpu --force
python - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
ap = json.load(open(f"{out}/oks.json"))["metrics"]["oks"]["AP"]
json.dump({"pipeline": "keypoints", "metric": "distilled thermal student OKS AP (unseen subject s04)",
           "value": float(ap), "outputs": [f"{out}/student/best.pt", f"{out}/oks.json", f"{out}/annotated.png"]},
          open(f"{out}/summary.json", "w"))
PY
