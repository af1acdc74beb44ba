"""Timed-Up-and-Go from per-frame body keypoints: the test time and its phases.

Pure numpy (no I/O): :func:`analyse_track` takes one sequence's timestamps (seconds, any spacing:
dropped frames are simply absent) and its 17 COCO keypoints ``(N, 17, 3)`` (x, y, visibility or
score; a keypoint with a third value <= ``min_score`` or non-finite coordinates is missing) and
returns a :class:`TugResult`.

Two signals carry the test:

- **hip height**: the vertical image distance from the mid-hip down to the ankles, divided by the
  frame's torso length (mid-shoulder to mid-hip), so it does not depend on the distance to the
  camera (≈ 0.9 seated, ≈ 1.8 standing);
- **horizontal position**: the mid-hip's x in pixels, signed so that walking out is positive
  (left-to-right and right-to-left walks give the same analysis).

Boundaries are fitted with sub-frame resolution (the real thermal camera runs at 8 fps, the
synthetic one at 1.25 fps): the rise off the chair and the sit-down are each a least-squares fit of
a smooth step (minimum-jerk shape, 3s²−2s³) between two levels, whose start and end are the
``start`` / ``walk_out`` and ``sit`` / ``end`` boundaries; walking out and back are each a
least-squares ramp between two plateaus (constant walking speed), whose ends give the turn and the
``turn_and_sit`` boundaries. Each boundary's confidence combines the fit's residual (relative to
the step's amplitude) and how many frames lie near it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PHASES = ["stand_up", "walk_out", "turn", "walk_back", "turn_and_sit"]
BOUNDARIES = ["start", "walk_out", "turn", "walk_back", "turn_and_sit", "end"]
L_SHOULDER, R_SHOULDER, L_HIP, R_HIP, L_ANKLE, R_ANKLE = 5, 6, 11, 12, 15, 16


@dataclass
class TugResult:
    """One sequence's TUG analysis. ``found`` False: ``reason`` says why, the times are None."""

    found: bool
    reason: str = ""
    boundaries: dict[str, float | None] = field(default_factory=dict)  # seconds, the track's clock
    confidence: dict[str, float] = field(default_factory=dict)  # per boundary, 0..1
    total_s: float | None = None
    total_confidence: float = 0.0
    durations: dict[str, float | None] = field(default_factory=dict)  # per phase
    gait: dict[str, Any] = field(default_factory=dict)
    direction: str | None = None  # "left-to-right" or "right-to-left" (walking out)
    signals: dict[str, np.ndarray] = field(default_factory=dict)  # t, hip_height, x (per frame, NaN missing)

    def as_dict(self) -> dict[str, Any]:
        out = {"found": self.found, "reason": self.reason, "total_s": self.total_s,
               "total_confidence": self.total_confidence, "direction": self.direction,
               "boundaries": self.boundaries, "confidence": self.confidence, "durations": self.durations,
               "gait": self.gait}
        return out


def _mean_point(kp: np.ndarray, ok: np.ndarray, joints: tuple[int, ...]) -> np.ndarray:
    """(N, 2) mean of the valid joints' (x, y); NaN where none is valid."""
    sel = ok[:, list(joints)]
    xy = np.where(sel[..., None], kp[:, list(joints), :2], 0.0)
    count = sel.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = xy.sum(axis=1) / count[:, None]
    mean[count == 0] = np.nan
    return mean


def track_signals(keypoints: np.ndarray, *, min_score: float = 0.0):
    """(hip height in torso lengths, mid-hip x, mid-hip y, ankle separation along x; px) per frame,
    NaN where the keypoints needed are missing."""
    kp = np.asarray(keypoints, np.float64)
    if kp.ndim != 3 or kp.shape[1] < 17 or kp.shape[2] < 3:
        raise ValueError(f"keypoints must be (N, 17, 3), got {kp.shape}")
    ok = (kp[..., 2] > min_score) & np.isfinite(kp[..., 0]) & np.isfinite(kp[..., 1])
    hip = _mean_point(kp, ok, (L_HIP, R_HIP))
    shoulder = _mean_point(kp, ok, (L_SHOULDER, R_SHOULDER))
    ankle = _mean_point(kp, ok, (L_ANKLE, R_ANKLE))
    torso = np.hypot(*(shoulder - hip).T)
    with np.errstate(invalid="ignore", divide="ignore"):
        height = (ankle[:, 1] - hip[:, 1]) / torso
    height[~np.isfinite(height) | (torso < 1e-6)] = np.nan
    both = ok[:, L_ANKLE] & ok[:, R_ANKLE]
    separation = np.where(both, kp[:, L_ANKLE, 0] - kp[:, R_ANKLE, 0], np.nan)
    return height, hip[:, 0], hip[:, 1], separation


def _smoothstep(s: np.ndarray) -> np.ndarray:
    s = np.clip(s, 0.0, 1.0)
    return s * s * (3 - 2 * s)


def _basis(kind: str, s: np.ndarray) -> np.ndarray:
    """Shape of a transition at progress s (0..1, clipped): "linear" ramp, "smooth" minimum-jerk
    step, "lift" / "advance" the height and forward shift of a hip turning on a circle about the
    knee (sin θ, 1 − cos θ) as the thigh angle θ goes 0 → 90° with a minimum-jerk profile, and
    "drop" / "retreat" the same sitting down (θ 90° → 0)."""
    if kind == "linear":
        return np.clip(s, 0.0, 1.0)
    e = _smoothstep(s)
    if kind == "smooth":
        return e
    theta = 0.5 * np.pi * (1.0 - e if kind in ("drop", "retreat") else e)
    return np.sin(theta) if kind in ("lift", "drop") else 1.0 - np.cos(theta)


def fit_transition(signals: list[tuple[np.ndarray, np.ndarray, str]], *, lo_t: float, hi_t: float,
                   grid_s: float = 0.02, min_dur: float = 0.2, max_dur: float = 6.0):
    """Least-squares transition shared by several signals: each ``(t, y, shape)`` is fitted by
    ``y ≈ a + b·shape((t − t0)/(t1 − t0))`` (own a, b; common t0 ∈ [lo_t, hi_t] and t1), residuals
    summed. Returns (t0, t1, [(a, b, rms) per signal]) or None when fewer than 3 points in all."""
    starts = np.arange(lo_t, hi_t + grid_s / 2, grid_s)
    durations = np.arange(min_dur, max_dur + grid_s / 2, grid_s * 2)
    total = np.zeros((len(starts), len(durations)))
    coefs = []
    n_all = 0
    for t, y, shape in signals:
        keep = np.isfinite(y) & np.isfinite(t)
        t, y = t[keep], y[keep]
        n = len(t)
        n_all += n
        if n == 0:
            coefs.append(None)
            continue
        g = _basis(shape, (t[None, None, :] - starts[:, None, None]) / durations[None, :, None])
        sg, sgg = g.sum(-1), (g * g).sum(-1)
        sy, sgy = y.sum(), (g * y).sum(-1)
        det = n * sgg - sg * sg
        flat = np.abs(det) < 1e-9
        with np.errstate(invalid="ignore", divide="ignore"):
            b = np.where(flat, 0.0, (n * sgy - sg * sy) / np.where(flat, 1.0, det))
        a = (sy - b * sg) / n
        resid = ((a[..., None] + b[..., None] * g - y) ** 2).sum(-1)
        total += np.where(np.isfinite(resid), resid, np.inf)
        coefs.append((a, b, resid, n))
    if n_all < 3 or not np.isfinite(total).any():
        return None
    i, j = np.unravel_index(np.argmin(total), total.shape)
    per = [None if c is None else (float(c[0][i, j]), float(c[1][i, j]), float(math.sqrt(c[2][i, j] / c[3])))
           for c in coefs]
    return float(starts[i]), float(starts[i] + durations[j]), per


def fit_step(t: np.ndarray, y: np.ndarray, *, shape: str, lo_t: float, hi_t: float, grid_s: float = 0.02,
             min_dur: float = 0.2, max_dur: float = 6.0) -> tuple[float, float, float, float, float] | None:
    """One signal's :func:`fit_transition`: (t0, t1, a, b, rms residual) or None."""
    fit = fit_transition([(t, y, shape)], lo_t=lo_t, hi_t=hi_t, grid_s=grid_s, min_dur=min_dur, max_dur=max_dur)
    if fit is None or fit[2][0] is None:
        return None
    t0, t1, ((a, b, rms),) = fit
    return t0, t1, a, b, rms


def _lstsq_grid(bases: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched least squares: ``bases`` (..., m, n) basis functions at n points, ``y`` (n,);
    returns (coefficients (..., m), residual sum of squares (...)); inf where singular."""
    gram = bases @ np.swapaxes(bases, -1, -2)
    rhs = bases @ y
    m = gram.shape[-1]
    gram = gram + 1e-9 * np.eye(m)
    coef = np.linalg.solve(gram, rhs[..., None])[..., 0]
    resid = ((np.einsum("...m,...mn->...n", coef, bases) - y) ** 2).sum(-1)
    return coef, np.where(np.isfinite(resid), resid, np.inf)


def fit_rise_and_walk(t: np.ndarray, x: np.ndarray, y: np.ndarray, *, lo_t: float, hi_t: float,
                      grid_s: float = 0.02, min_dur: float = 0.4, max_dur: float = 5.0):
    """Sit-to-stand followed by walking, fitted on the mid-hip (x signed so walking out is +,
    y image rows): during the rise the hip turns about the knee (y = y0 − a·sin θ, x = x0 +
    b·(1 − cos θ), θ: 0 → 90° minimum-jerk between t0 and t1), after it walks on at a constant
    speed (x + v·(t − t1)) at a constant height. Returns (t0, t1, rms of y, amplitude of y)."""
    starts = np.arange(lo_t, hi_t + grid_s / 2, grid_s)
    durations = np.arange(min_dur, max_dur + grid_s / 2, grid_s * 2)
    t0 = starts[:, None, None]
    t1 = t0 + durations[None, :, None]
    theta = 0.5 * np.pi * _smoothstep((t[None, None, :] - t0) / (t1 - t0))
    ones = np.ones_like(theta)
    bx = np.stack([ones, 1.0 - np.cos(theta), np.maximum(t[None, None, :] - t1, 0.0)], axis=-2)
    by = np.stack([ones, np.sin(theta)], axis=-2)
    cx, rx = _lstsq_grid(bx, x)
    cy, ry = _lstsq_grid(by, y)
    # both in pixels; a rise must lift the hip (y up the image: negative), walking go out, and
    # the hip's advance over the knee (the thigh, seen from the side) be no longer than 1.5× its lift
    total = rx + ry
    lift = -cy[..., 1]
    total[(lift <= 0) | (cx[..., 2] <= 0) | (cx[..., 1] < 0) | (cx[..., 1] > 1.5 * lift)] = np.inf
    if not np.isfinite(total).any():
        return None
    i, j = np.unravel_index(np.argmin(total), total.shape)
    return float(starts[i]), float(starts[i] + durations[j]), float(math.sqrt(ry[i, j] / len(t))), float(-cy[i, j, 1])


def _support(t: np.ndarray, at: float, spacing: float) -> float:
    """0..1: how well frames cover the time around a boundary (1: a frame within half a spacing on
    each side; dropped frames nearby lower it)."""
    before = t[t <= at]
    after = t[t >= at]
    if len(before) == 0 or len(after) == 0:
        return 0.0
    gap = (after.min() - before.max()) / max(spacing, 1e-9)
    return float(np.clip(1.5 / max(gap, 1.0) - 0.5, 0.0, 1.0))


def _fit_confidence(rms: float, amplitude: float) -> float:
    if not amplitude or not np.isfinite(amplitude):
        return 0.0
    return float(np.clip(1.0 - 3.0 * rms / abs(amplitude), 0.0, 1.0))


def not_found(reason: str, signals: dict[str, np.ndarray]) -> TugResult:
    return TugResult(found=False, reason=reason, boundaries={b: None for b in BOUNDARIES},
                     confidence={b: 0.0 for b in BOUNDARIES}, durations={p: None for p in PHASES},
                     gait={}, signals=signals)


def analyse_track(timestamps: np.ndarray, keypoints: np.ndarray, *, min_score: float = 0.0,
                  pixel_size: float | None = None, min_rise: float = 0.35) -> TugResult:
    """The TUG of one sequence (see the module docstring). ``pixel_size``: metres per pixel for the
    walking speed in m/s; ``min_rise``: the least rise of the hip height (torso lengths) that counts
    as standing up."""
    t_all = np.asarray(timestamps, np.float64)
    order = np.argsort(t_all, kind="stable")
    t_all = t_all[order]
    height, x, hip_y, separation = track_signals(np.asarray(keypoints)[order], min_score=min_score)
    signals = {"t": t_all, "hip_height": height, "x": x}
    ok = np.isfinite(height) & np.isfinite(x) & np.isfinite(t_all)
    if ok.sum() < 5:
        return not_found(f"too few frames with hips, shoulders and ankles ({int(ok.sum())} of {len(t_all)})", signals)
    t, h, xx, hy = t_all[ok], height[ok], x[ok], hip_y[ok]
    spacing = float(np.median(np.diff(t))) if len(t) > 1 else 1.0
    lo_level = np.percentile(h, 10)
    hi_level = np.percentile(h, 90)
    if hi_level - lo_level < min_rise:
        return not_found(f"no standing up: the hip height never rises (range {hi_level - lo_level:.2f} torso "
                         f"lengths < {min_rise:g})", signals)
    mid = (lo_level + hi_level) / 2
    standing = h > mid
    if standing[0]:
        return not_found("no standing up: the subject is already standing in the first frame", signals)
    if standing[-1]:
        return not_found("no sitting back: the subject is still standing in the last frame", signals)
    first_up = int(np.argmax(standing))
    last_up = len(standing) - 1 - int(np.argmax(standing[::-1]))
    # walking direction: the standing frame farthest from where the subject stood up
    x_up = xx[first_up]
    far = first_up + int(np.argmax(np.abs(xx[first_up:last_up + 1] - x_up)))
    sign = 1.0 if xx[far] >= x_up else -1.0
    direction = "left-to-right" if sign > 0 else "right-to-left"
    sx = sign * xx
    t_up, t_down, t_far = t[first_up], t[last_up], t[far]

    # rise off the chair: the hip turns up about the knee; hip y up to the far point
    sel = t <= t_far
    rise = fit_rise_and_walk(t[sel], sx[sel], hy[sel], lo_t=t[0] - 2 * spacing, hi_t=t_up)
    # sitting back, first pass: hip y from the far point on
    sel = t >= t_far
    fall = fit_transition([(t[sel], hy[sel], "drop")], lo_t=t_far, hi_t=t_down + spacing)
    if rise is None or fall is None:
        return not_found("the rise off the chair or the sit-down could not be fitted", signals)
    # walking out and back: ramps of the horizontal position between plateaus
    sel = (t >= rise[1] - spacing) & (t <= t_far + spacing)
    out = fit_step(t[sel], sx[sel], shape="linear", lo_t=rise[0], hi_t=t_far)
    sel = (t >= t_far - spacing) & (t <= fall[0] + 0.25 * (fall[1] - fall[0]))
    back = fit_step(t[sel], sx[sel], shape="linear", lo_t=t_far - spacing, hi_t=fall[0])
    if out is None or back is None or out[3] <= 0 or back[3] >= 0:
        return not_found("no walk out and back: the horizontal position does not go out and return", signals)
    # sitting back, refined: hip y and the hip's way back to the chair together, after the walk back
    sel = t >= back[1]
    refined = fit_transition([(t[sel], hy[sel], "drop"), (t[sel], sx[sel], "retreat")], lo_t=back[1],
                             hi_t=t_down + spacing)
    if refined is not None and refined[2][0] is not None:
        fall = refined
    start, walk_out = rise[0], rise[1]
    turn, walk_back, turn_and_sit = out[1], back[0], back[1]
    end = fall[1]
    times = [start, walk_out, turn, walk_back, turn_and_sit, end]
    # keep the order when the fits overlap (noisy tracks): clamp into sequence
    for k in range(1, len(times)):
        times[k] = max(times[k], times[k - 1])
    bounds = dict(zip(BOUNDARIES, times))
    rise_fit, fall_fit = (rise[2], rise[3]), (fall[2][0][2], fall[2][0][1])
    fits = {"start": rise_fit, "walk_out": rise_fit, "turn": (out[4], out[3]), "walk_back": (back[4], back[3]),
            "turn_and_sit": (back[4], back[3]), "end": fall_fit}
    confidence = {name: round(_fit_confidence(*fits[name]) * _support(t, bounds[name], spacing), 3)
                  for name in BOUNDARIES}
    durations = {p: times[k + 1] - times[k] for k, p in enumerate(PHASES)}
    gait = gait_measures(t, sx, separation[ok], bounds, out, back,
                         spacing=spacing, pixel_size=pixel_size)
    return TugResult(found=True, boundaries={k: round(v, 3) for k, v in bounds.items()}, confidence=confidence,
                     total_s=round(end - start, 3), total_confidence=min(confidence["start"], confidence["end"]),
                     durations={k: round(v, 3) for k, v in durations.items()}, gait=gait, direction=direction,
                     signals=signals)


def gait_measures(t: np.ndarray, sx: np.ndarray, separation: np.ndarray, bounds: dict[str, float],
                  out: tuple, back: tuple, *, spacing: float, pixel_size: float | None) -> dict[str, Any]:
    """Walking speed (image plane, px/s and m/s with ``pixel_size``), step count and cadence.

    Steps are counted as sign changes of the ankles' horizontal separation while walking; they are
    reported only when the frame rate resolves stepping (≥ 4 frames/s, twice a brisk 2 steps/s)."""
    speeds = []
    for fit in (out, back):
        duration = fit[1] - fit[0]
        if duration > 0:
            speeds.append(abs(fit[3]) / duration)
    speed_px = float(np.mean(speeds)) if speeds else None
    walk_s = (bounds["turn"] - bounds["walk_out"]) + (bounds["turn_and_sit"] - bounds["walk_back"])
    conf_speed = round(min(_fit_confidence(out[4], out[3]), _fit_confidence(back[4], back[3])), 3)
    result: dict[str, Any] = {
        "walking_speed_px_s": None if speed_px is None else round(speed_px, 3),
        "walking_speed_m_s": None if speed_px is None or pixel_size is None else round(speed_px * pixel_size, 4),
        "walking_speed_confidence": conf_speed,
        "walking_time_s": round(walk_s, 3),
        "steps": None, "cadence_steps_min": None, "steps_confidence": 0.0, "steps_note": "",
    }
    fps = 1.0 / spacing if spacing > 0 else 0.0
    if fps < 4.0:
        result["steps_note"] = f"not measured: {fps:.2g} frames/s cannot resolve steps (needs >= 4)"
        return result
    walking = ((t >= bounds["walk_out"]) & (t <= bounds["turn"])) | ((t >= bounds["walk_back"]) & (t <= bounds["turn_and_sit"]))
    sep = separation[walking]
    sep = sep[np.isfinite(sep)]
    if len(sep) < 4 or walk_s <= 0:
        result["steps_note"] = "not measured: too few frames with both ankles while walking"
        return result
    centred = sep - np.median(sep)
    amplitude = np.percentile(np.abs(centred), 90)
    signs = np.sign(np.where(np.abs(centred) < 0.1 * amplitude, 0, centred))
    signs = signs[signs != 0]
    steps = int(np.sum(signs[1:] != signs[:-1]))
    coverage = float(walking.sum() * spacing / walk_s) if walk_s > 0 else 0.0
    result.update(steps=steps, cadence_steps_min=round(60.0 * steps / walk_s, 2),
                  steps_confidence=round(float(np.clip(coverage, 0, 1)) * float(np.clip(fps / 8.0, 0, 1)), 3))
    return result
