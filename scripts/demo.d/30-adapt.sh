#!/usr/bin/env bash
# Domain adaptation: ADDA from the RGB-like shapes (labelled) to the thermal-like shapes
# (unlabelled), then evaluate the adapted model on the labelled thermal test set.
set -euo pipefail
OUT=${DEMO_OUT:-demo_out}/adapt
D=sample_data/domains
mkdir -p "$OUT"
thermcli adapt --method adda "$D/source_train.h5" "$D/target_train.h5" --target-val "$D/target_test.h5" \
    --source-epochs 20 --epochs 4 --seed 0 --threads 1 --out "$OUT/run" --force --json > "$OUT/adapt.json"
thermcli eval "$OUT/run/best.pt" "$D/target_test.h5" --metric accuracy,balanced_accuracy --json > "$OUT/eval.json"
python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
adapt = json.loads((out / "adapt.json").read_text())
evaluation = json.loads((out / "eval.json").read_text())["metrics"]["classification"]
value = evaluation["accuracy"]  # `thermcli eval` of the adapted model on the labelled thermal test set
source_only = adapt["target_acc_source_only"]["mean"]
outputs = [str(out / "run" / n) for n in ("best.pt", "metrics.csv", "curves.png", "embedding.png")] + [str(out / "eval.json")]
summary = {"pipeline": "adapt", "metric": "target accuracy (ADDA, thermal-like test; thermcli eval)", "value": value,
           "source_only": source_only, "adapt_reported": adapt["target_acc_adapted"]["mean"],
           "balanced_accuracy": evaluation["balanced_accuracy"], "outputs": outputs}
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(f"adapt: target accuracy {source_only:.3f} (source only) -> {value:.3f} (ADDA)", file=sys.stderr)
PY
