#!/usr/bin/env bash
# Breathing phase (INH/EXH): split by subject → baseline → transfer → threshold copies + augment →
# distillation → contrastive → SVM + RF ensemble, on sample_data/breathing.h5, a few epochs each
# and a smaller source population (docs/results/breathing-pipeline.md uses 20 epochs, --scale 2). Headline: the ensemble's balanced accuracy on unseen subjects.
set -euo pipefail
OUT=${DEMO_OUT:-demo_out}/breathing
mkdir -p "$OUT"
EPOCHS=${BREATHING_EPOCHS:-3}
SOURCE_SCALE=${SOURCE_SCALE:-1} OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} bash examples/breathing-synthetic/pipeline.sh "$OUT" "$EPOCHS" >&2
python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
stages = json.loads((out / "stages.json").read_text())["stages"]
final = stages[-1]
summary = {
    "pipeline": "breathing",
    "metric": "balanced accuracy, unseen subjects (svm+rf ensemble)",
    "value": final["balanced_accuracy"],
    "stages": {s["stage"]: round(s["balanced_accuracy"], 4) for s in stages},
    "outputs": [str(out / "stages.json"), str(out / "ensemble"), str(out / "contrastive" / "curves.png")],
}
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
PY
