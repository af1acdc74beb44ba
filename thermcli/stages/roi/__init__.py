"""``thermcli roi``: per-region, per-frame temperature statistics over time, per-recording
summaries, plots, and (``signal="breathing"``) respiration rate, quality and INH/EXH phase.

Regions, per frame, from
- ``regions.json``: fixed boxes / polygons / discs; a number may instead name a per-frame
  column of the dataset (a tracked ROI: ``{"name": "mouth", "disc": ["cx", "cy", "r"]}``, or
  one element of a column: ``"airway_xy[0]"``);
- a temperature band (a skin mask with morphology and largest-component options): alone it is
  the region ``skin``; with other regions it keeps only each region's pixels inside the band;
- keypoint anchors (``NAME=disc:KP:RADIUS``, ``NAME=segment:KP1,KP2:WIDTH``; ``KP`` may average
  keypoints with ``+``) from the dataset's keypoints or from a keypoint model.

Output folder: ``series.csv`` + ``series.h5`` (one row per frame: frame, recording, subject,
time, ``REGION.STAT`` …), ``summary.json`` + ``summary.csv`` (one row per recording and region),
``plots/REGION.png``, and for breathing ``respiration.csv`` (one row per window).

The package's modules: ``config`` (settings, region parsing, the result), ``regions`` (masks per
frame), ``timeline`` (time axis, reference, smoothing), ``respiration`` (breathing analysis),
``writing`` (the output folder), ``keypoints`` (keypoints from a model) and ``run`` (``run_roi``).
"""

from thermcli.stages.roi.config import (
    SERIES_SCHEMA,
    SHAPES,
    Band,
    BreathingConfig,
    KeypointPredictor,
    Region,
    RoiConfig,
    RoiResult,
    load_regions,
    parse_anchor,
)
from thermcli.stages.roi.keypoints import KEYPOINT_INFERENCE, model_keypoint_predictor
from thermcli.stages.roi.run import run_roi

__all__ = [
    "KEYPOINT_INFERENCE",
    "SERIES_SCHEMA",
    "SHAPES",
    "Band",
    "BreathingConfig",
    "KeypointPredictor",
    "Region",
    "RoiConfig",
    "RoiResult",
    "load_regions",
    "model_keypoint_predictor",
    "parse_anchor",
    "run_roi",
]
