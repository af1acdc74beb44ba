#!/usr/bin/env bash
# Real data: INH/EXH classification on the breathing-spirometry recordings, split by segment.
#   examples/breathing-spirometry/run.sh [OUT_DIR] [EPOCHS]
# Needs ../shared/data/breathing-spirometry (not shipped with thermcli). Writes OUT_DIR/results.json.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
OUT=${1:-out/breathing-spirometry}
EPOCHS=${2:-12}
DATA=${DATA:-$repo/../shared/data/breathing-spirometry}
TC=${THERMCLI:-thermcli}
PY=${PYTHON:-python}
SEED=${SEED:-0}
CROP=${CROP:-80}              # side of the square cut around the mouth ROI (px), resized to 40×40
BACKGROUND=${BACKGROUND:-none}  # median: subtract each pixel's median over its segment
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}   # small runs on a shared machine
mkdir -p "$OUT"
run() { echo "+ $TC $*" >&2; $TC -q "$@"; }

# 1. frames → 40×40 crops around the mouth ROI (the mouthpiece), labels from the spirometer's flow
$PY "$here/make_phase_dataset.py" "$DATA" "$OUT/phase.h5" --crop "$CROP" --background "$BACKGROUND"
# 2. split by segment (each segment is one recording): 6 train, 2 validation, 2 test
run split "$OUT/phase.h5" "$OUT/split" --by sequence --fractions 0.6,0.2,0.2 --seed "$SEED" --force
S=$OUT/split
common=(--arch small_cnn --width 8 --epochs "$EPOCHS" --patience 5 --batch-size 64 --seed "$SEED" --device cpu --force)
# 3. one frame, and K = 8 / 16 consecutive frames (0.4 s / 0.8 s at 20 fps) of the same segment
run train "$S/train.h5" --val "$S/val.h5" --frames 1 --out "$OUT/frames1" "${common[@]}"
run train "$S/train.h5" --val "$S/val.h5" --frames 8 --out "$OUT/frames8" "${common[@]}"
run train "$S/train.h5" --val "$S/val.h5" --frames 16 --out "$OUT/frames16" "${common[@]}"
# K = 16 / 32 / 48 centred on the frame (the thermal response lags the flow by 1–7 frames),
# window-normalised: each frame relative to the mean of its 0.8 / 1.6 / 2.4 s window
for k in 16 32 48; do
    run train "$S/train.h5" --val "$S/val.h5" --frames $k --window centered --normalize window --out "$OUT/frames${k}c" "${common[@]}"
done
for k in 1 8 16 16c 32c 48c; do
    run eval "$OUT/frames$k/best.pt" "$S/test.h5" --output "$OUT/frames$k/test_metrics.json" --force
done
$PY - "$OUT" <<'PY'
import csv, json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = {}
for k in (1, 8, 16, "16c", "32c", "48c"):
    m = json.loads((out / f"frames{k}" / "test_metrics.json").read_text())["metrics"]["classification"]
    rows[f"frames{k}"] = {"balanced_accuracy": m["balanced_accuracy"], "accuracy": m["accuracy"], "test_frames": m["n"],
                          "support": m["support"]}
    best_val = max(float(r["val_balanced_accuracy"]) for r in csv.DictReader(open(out / f"frames{k}" / "metrics.csv")))
    rows[f"frames{k}"]["val_balanced_accuracy"] = best_val
    print(f"--frames {k!s:>3}: validation {best_val:.4f}, test: balanced accuracy {m['balanced_accuracy']:.4f} on {m['n']} test frames {m['support']}")
(out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
PY
