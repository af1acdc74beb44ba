#!/usr/bin/env bash
# `make demo`: run every pipeline demo under scripts/demo.d/ on sample_data/, in order, then
# print the summary table. Each demo writes demo_out/<name>/ and a summary.json there.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${DEMO_OUT:-demo_out}
mkdir -p "$OUT"
start=$(date +%s)
for step in scripts/demo.d/*.sh; do
    [ -e "$step" ] || continue
    echo "==> $(basename "$step")" >&2
    DEMO_OUT="$OUT" bash "$step"
done
python -m thermcli.stages.demo_summary "$OUT" "$(( $(date +%s) - start ))"
