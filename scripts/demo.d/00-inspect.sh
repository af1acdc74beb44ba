#!/usr/bin/env bash
# Inspect every committed sample artifact (schema check + summary + lineage).
set -euo pipefail
OUT=${DEMO_OUT:-demo_out}/inspect
mkdir -p "$OUT"
count=0
for artifact in sample_data/*.h5 sample_data/*/*.h5; do
    [ -e "$artifact" ] || continue
    name=$(echo "${artifact#sample_data/}" | tr '/' '_')
    name=${name%.h5}
    thermcli info "$artifact" --json > "$OUT/$name.json"
    thermcli info "$artifact" --no-lineage >&2
    count=$((count + 1))
done
printf '{"pipeline": "inspect", "metric": "artifacts checked", "value": %d, "outputs": ["%s"]}\n' "$count" "$OUT" > "$OUT/summary.json"
