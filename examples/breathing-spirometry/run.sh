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
mkdir -p "$OUT"
run() { echo "+ $TC $*" >&2; $TC -q "$@"; }

# 1. frames → 40×40 crops around the breathing ROI, labels from the spirometer's flow
$PY "$here/make_phase_dataset.py" "$DATA" "$OUT/phase.h5"
# 2. split by segment (each segment is one recording): 6 train, 2 validation, 2 test
run split "$OUT/phase.h5" "$OUT/split" --by sequence --fractions 0.6,0.2,0.2 --seed "$SEED" --force
S=$OUT/split
common=(--arch small_cnn --width 8 --epochs "$EPOCHS" --patience 5 --batch-size 64 --seed "$SEED" --device cpu --force)
# 3. one frame, and K = 8 / 16 consecutive frames (0.4 s / 0.8 s at 20 fps) of the same segment
run train "$S/train.h5" --val "$S/val.h5" --frames 1 --out "$OUT/frames1" "${common[@]}"
run train "$S/train.h5" --val "$S/val.h5" --frames 8 --out "$OUT/frames8" "${common[@]}"
run train "$S/train.h5" --val "$S/val.h5" --frames 16 --out "$OUT/frames16" "${common[@]}"
# K = 16 centred on the frame (the thermal response lags the flow by 1–7 frames), window-normalised
run train "$S/train.h5" --val "$S/val.h5" --frames 16 --window centered --normalize window --out "$OUT/frames16c" "${common[@]}"
for k in 1 8 16 16c; do
    run eval "$OUT/frames$k/best.pt" "$S/test.h5" --output "$OUT/frames$k/test_metrics.json" --force
done
$PY - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = {}
for k in (1, 8, 16, "16c"):
    m = json.loads((out / f"frames{k}" / "test_metrics.json").read_text())["metrics"]["classification"]
    rows[f"frames{k}"] = {"balanced_accuracy": m["balanced_accuracy"], "accuracy": m["accuracy"], "test_frames": m["n"],
                          "support": m["support"]}
    print(f"--frames {k:>3}: balanced accuracy {m['balanced_accuracy']:.4f} on {m['n']} test frames {m['support']}")
(out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
PY
