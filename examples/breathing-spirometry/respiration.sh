#!/usr/bin/env bash
# Respiration rate and model-free INH/EXH phase from the real thermal video of
# ../shared/data/breathing-spirometry, compared with the spirometer of the same segments.
#
#   1. the 10 segments (NNvid.mp4 + NNdata.txt) → one dataset, with the data's mouth ROI as
#      columns roi_cx/roi_cy/roi_r (its position_x is the ROI's row, position_y its column)
#   2. thermcli roi: the ROI's mean intensity per frame → band-pass 0.1–1.5 Hz (6–90 breaths/min)
#      → one rate per segment (--window all: segments are 16–20 s) by the default adaptive
#      estimator, and a phase per frame; --reference flow:flow counts the spirometer's breaths
#      (zero crossings of the detrended flow, validated cycles) in the same segment and labels
#      each frame INH/EXH from the flow against its zero level
#   3. the other estimators and bands, the slope phase rule, and the README figure
#
# usage: examples/breathing-spirometry/respiration.sh [DATA_DIR] [OUT_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
data="${1:-$repo/../shared/data/breathing-spirometry}"
out="${2:-out/breathing-spirometry-respiration}"
python="${PYTHON:-python}"
thermcli="${THERMCLI:-thermcli}"  # e.g. THERMCLI=".venv/bin/python -m thermcli"
mkdir -p "$out"

$python -m thermcli.io.spirometry "$data" "$out/segments.h5" --force

common=(--regions "$here/mouth_roi.json" --signal breathing --window all --reference flow:flow --force)
# the defaults: --rate-method auto --breath-band 0.1:1.5
$thermcli roi "$out/segments.h5" "$out/auto-level" "${common[@]}" --phase level
$thermcli roi "$out/segments.h5" "$out/spectral-level" "${common[@]}" --rate-method spectral --phase level --no-plots
$thermcli roi "$out/segments.h5" "$out/peaks-level" "${common[@]}" --rate-method peaks --phase level --no-plots
# the adult band 6–60 breaths/min, and the previous default (spectral peak, 0.1–0.7 Hz)
$thermcli roi "$out/segments.h5" "$out/auto-band10" "${common[@]}" --breath-band 0.1:1.0 --phase level --no-plots
$thermcli roi "$out/segments.h5" "$out/spectral-band07" "${common[@]}" --rate-method spectral --breath-band 0.1:0.7 --phase level --no-plots
$thermcli roi "$out/segments.h5" "$out/auto-slope" "${common[@]}" --phase slope --no-plots
# only segments whose spectral quality index is at least 0.5
$thermcli roi "$out/segments.h5" "$out/auto-q05" "${common[@]}" --phase level --min-quality 0.5 --no-plots
# sliding 15 s windows every 2 s instead of one window per segment (2–3 windows a segment)
$thermcli roi "$out/segments.h5" "$out/auto-15s" "${common[@]}" --window 15s --step 2s --phase level --no-plots

PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" $python "$here/respiration_report.py" "$out" --figure "${FIGURE:-$out/respiration_segment.png}"
