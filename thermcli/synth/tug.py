"""``tug``: paired RGB + 80×60 thermal recordings of people doing a Timed-Up-and-Go.

Each subject (own build, clothing, skin tone, walking speed) sits on a chair, stands up, walks
away from it, turns, walks back, turns and sits down again, seen in a three-quarter view by two
cameras of a fixed rig:

- an RGB camera (``rgb.h5``: 128×96 uint8, modality ``rgb``, unit ``intensity``): coloured
  clothing with cylindrical shading, left limbs lighter than right ones, a face/hair head so the
  facing direction shows, a textured wall and floor, a chair, sensor noise;
- a thermal camera (``thermal.h5``: 80×60 float32 °C): skin 33–35 °C (face, eyes warmest, nose
  and ears cooler), clothing 27–31 °C with gradients along the limbs, warm feet (socks), hair
  cooler, background wall/floor/chair 20–24 °C, optics blur, 50–100 mK temporal noise and a
  fixed column/row pattern (stripes);
- ``homography.json``: the exact RGB→thermal pixel homography (the cameras share an optical
  centre, so one homography maps every depth; their fields of view differ);
- ``clicks.csv``: eight RGB↔thermal point pairs as a user would click them for ``align --points``
  (the true correspondences with 0.3 thermal-pixel click noise).

Both datasets hold 17 COCO keypoints in their own pixel coordinates (visibility 2 visible,
1 occluded by the body, 0 outside that camera's view with x = y = 0), one person box per frame,
``subject``/``sequence`` ids, TUG phase labels, per-camera timestamps (jitter ±3 ms, the RGB clock
20 ms ahead) and ``columns/frame_index`` (the capture index in the sequence, the ground truth of
time synchronisation). About 1% of the captures are dropped by each camera (never the same one).

The 3-D skeleton is posed by forward kinematics and rendered as capsules, vectorised over frames.
``scale`` multiplies the number of subjects (4 at scale 1); the frame rate is kept low
(1.25 frames/s) so that the committed sample stays under 4 MB.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from thermcli.io.schema import (
    COCO_FLIP_PAIRS,
    COCO_KEYPOINT_NAMES,
    COCO_SIGMAS,
    COCO_SKELETON,
    Dataset,
    Meta,
)

KIND = "tug"
SUMMARY = "paired RGB 128x96 + thermal 80x60 Timed-Up-and-Go: COCO keypoints, boxes, jittered clocks, ~1% drops"

RGB_SIZE = (128, 96)  # width, height
THERMAL_SIZE = (80, 60)
FPS = 1.25
SUBJECTS_AT_SCALE_1 = 4
DROP_RATE = 0.01
CLOCK_JITTER_S = 0.003
RGB_CLOCK_OFFSET_S = 0.020  # the RGB camera's clock runs this far ahead of the thermal one
CAMERA_HEIGHT_M = 1.0
FOCAL_PX = 175.0
WALL_DEPTH_M = 7.0
PHASES = ["sit", "stand_up", "walk_out", "turn", "walk_back", "turn_and_sit"]

# joints: the 17 COCO keypoints, then helpers used for rendering only
NECK, PELVIS, HEAD, LHAND, RHAND, LTOE, RTOE = range(17, 24)
N_JOINTS = 24

# parts: (name, joint a, joint b, radius at a, radius at b (fractions of height), material)
# materials: shirt, sleeve (shirt on long sleeves, skin on short), skin, trousers, feet, head
PARTS = [
    ("torso_c", NECK, PELVIS, 0.060, 0.060, "shirt"),
    ("torso_l", 5, 11, 0.048, 0.052, "shirt"),
    ("torso_r", 6, 12, 0.048, 0.052, "shirt"),
    ("shoulders", 5, 6, 0.040, 0.040, "shirt"),
    ("hips", 11, 12, 0.052, 0.052, "trousers"),
    ("neck", NECK, HEAD, 0.030, 0.030, "skin"),
    ("head", HEAD, HEAD, 0.066, 0.066, "head"),
    ("l_upper_arm", 5, 7, 0.030, 0.026, "shirt"),
    ("r_upper_arm", 6, 8, 0.030, 0.026, "shirt"),
    ("l_forearm", 7, 9, 0.025, 0.020, "sleeve"),
    ("r_forearm", 8, 10, 0.025, 0.020, "sleeve"),
    ("l_hand", 9, LHAND, 0.021, 0.019, "skin"),
    ("r_hand", 10, RHAND, 0.021, 0.019, "skin"),
    ("l_thigh", 11, 13, 0.045, 0.033, "trousers"),
    ("r_thigh", 12, 14, 0.045, 0.033, "trousers"),
    ("l_shin", 13, 15, 0.031, 0.024, "trousers"),
    ("r_shin", 14, 16, 0.031, 0.024, "trousers"),
    ("l_foot", 15, LTOE, 0.022, 0.018, "feet"),
    ("r_foot", 16, RTOE, 0.022, 0.018, "feet"),
]
HEAD_PART = [p[0] for p in PARTS].index("head")


def generate(*, seed: int = 0, scale: float = 1.0) -> dict[str, Dataset | dict | str]:
    """thermal.h5, rgb.h5, homography.json and clicks.csv (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n_subjects = max(1, int(round(SUBJECTS_AT_SCALE_1 * scale)))
    homography = _rig_homography(rng)
    fpn = _fixed_pattern(rng)
    sequences = []
    for index in range(n_subjects):
        sequences.append(_sequence(np.random.default_rng(rng.integers(2**63)), index, homography, fpn))
    thermal = _concat([s["thermal"] for s in sequences])
    rgb = _concat([s["rgb"] for s in sequences])

    # clocks: one session, sequences a minute apart; each camera drops ~1% of its captures
    n = len(thermal["frame_index"])
    n_drop = max(1, int(round(DROP_RATE * n)))
    dropped = rng.choice(n, size=2 * n_drop, replace=False)
    drop_thermal, drop_rgb = np.sort(dropped[:n_drop]), np.sort(dropped[n_drop:])
    capture_time = thermal["capture_time"]
    thermal_ts = capture_time + rng.normal(0, CLOCK_JITTER_S, n)
    rgb_ts = capture_time + RGB_CLOCK_OFFSET_S + rng.normal(0, CLOCK_JITTER_S, n)
    keep_thermal = np.setdiff1d(np.arange(n), drop_thermal)
    keep_rgb = np.setdiff1d(np.arange(n), drop_rgb)

    provenance_free = {"generator": "thermcli.synth.tug", "seed": seed, "scale": scale}
    thermal_ds = _dataset(
        thermal, keep_thermal, thermal_ts, modality="thermal", unit="celsius",
        attrs={**provenance_free, "camera": "thermal", "fps": FPS, "size_wh": list(THERMAL_SIZE),
               "dropped_captures": int(n_drop), "clock_offset_s": 0.0, "clock_jitter_s": CLOCK_JITTER_S,
               "noise_sigma_K": "0.05-0.10 per sequence", "fixed_pattern": "column + row offsets"},
    )
    rgb_ds = _dataset(
        rgb, keep_rgb, rgb_ts, modality="rgb", unit="intensity",
        attrs={**provenance_free, "camera": "rgb", "fps": FPS, "size_wh": list(RGB_SIZE),
               "dropped_captures": int(n_drop), "clock_offset_s": RGB_CLOCK_OFFSET_S,
               "clock_jitter_s": CLOCK_JITTER_S},
    )
    transform = {
        "kind": "homography",
        "source": "rgb",
        "target": "thermal",
        "matrix": homography.tolist(),
        "source_size": list(RGB_SIZE),
        "target_size": list(THERMAL_SIZE),
        "method": "synthetic ground truth (thermcli synth tug)",
        "error_px": 0.0,
        "convention": "maps source pixel (x, y, 1) to target pixel; pixel centres at integer coordinates",
    }
    return {"thermal.h5": thermal_ds, "rgb.h5": rgb_ds, "homography.json": transform, "clicks.csv": _clicks(homography, seed)}


def _clicks(homography: np.ndarray, seed: int, n: int = 8, click_sigma_px: float = 0.3) -> str:
    """``clicks.csv`` for ``align --points``: what a user clicking n corresponding points (spread
    over the part of the RGB view the thermal camera sees) would write — the true pairs with
    Gaussian click noise. Its own random stream, so the other files do not change with it."""
    rng = np.random.default_rng([seed, 7])
    inverse = np.linalg.inv(homography)
    tw, th = THERMAL_SIZE
    thermal = np.column_stack([rng.uniform(0.1, 0.9, n) * (tw - 1), rng.uniform(0.1, 0.9, n) * (th - 1)])
    rgb = np.column_stack([thermal, np.ones(n)]) @ inverse.T
    rgb = rgb[:, :2] / rgb[:, 2:]
    rgb += rng.normal(0, click_sigma_px * RGB_SIZE[0] / tw, rgb.shape)
    thermal += rng.normal(0, click_sigma_px, thermal.shape)
    rows = ["rgb_x,rgb_y,thermal_x,thermal_y"] + [",".join(f"{v:.1f}" for v in (*r, *t)) for r, t in zip(rgb, thermal)]
    return "\n".join(rows) + "\n"


# ---- the rig ---------------------------------------------------------------------------------


def _rig_homography(rng: np.random.Generator) -> np.ndarray:
    """RGB→thermal pixel homography: the thermal camera sees a rotated, narrower, shifted view."""
    import cv2

    w, h = RGB_SIZE
    cx, cy = w * 0.5 + rng.uniform(-3, 3), h * 0.5 + rng.uniform(0, 4)
    half_w = w * rng.uniform(0.42, 0.46)
    half_h = half_w * THERMAL_SIZE[1] / THERMAL_SIZE[0]
    angle = math.radians(rng.uniform(1.0, 2.5) * rng.choice([-1, 1]))
    corners = np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]])
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    quad = corners @ rot.T + [cx, cy] + rng.uniform(-1.5, 1.5, (4, 2))  # a little perspective
    tw, th = THERMAL_SIZE
    # thermal pixel centres at integers: the thermal image spans [-0.5, tw - 0.5]
    target = np.array([[-0.5, -0.5], [tw - 0.5, -0.5], [tw - 0.5, th - 0.5], [-0.5, th - 0.5]])
    return cv2.getPerspectiveTransform(quad.astype(np.float32), target.astype(np.float32)).astype(np.float64)


def _fixed_pattern(rng: np.random.Generator) -> np.ndarray:
    """The thermal camera's fixed-pattern offsets (K): column stripes plus weaker row stripes."""
    tw, th = THERMAL_SIZE
    columns = rng.normal(0, 0.08, tw)
    rows = rng.normal(0, 0.03, th)
    return (rows[:, None] + columns[None, :]).astype(np.float32)


def _apply_h(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(..., 2) points through a 3×3 homography."""
    ones = np.ones(points.shape[:-1] + (1,))
    mapped = np.concatenate([points, ones], axis=-1) @ h.T
    return mapped[..., :2] / mapped[..., 2:3]


# ---- one subject's sequence ------------------------------------------------------------------


def _subject(rng: np.random.Generator, index: int) -> dict[str, Any]:
    height = [1.62, 1.85, 1.72, 1.95, 1.55, 1.78][index % 6] + rng.uniform(-0.05, 0.05)
    build = [1.0, 0.9, 1.25, 1.05, 1.15, 0.95][index % 6] * rng.uniform(0.95, 1.05)
    light = rng.uniform(0.35, 0.95)  # skin tone: a mix of a light and a dark tone
    skin = np.array([225, 185, 160]) * light + np.array([110, 75, 55]) * (1 - light)
    return {
        "height": height,
        "build": build,
        "speed": rng.uniform(0.8, 1.2),  # m/s walking
        "tempo": rng.uniform(0.85, 1.2),  # duration factor of sit/stand/turn
        "shirt": rng.uniform(30, 230, 3),
        "trousers": rng.uniform(20, 150, 3) * rng.uniform(0.4, 1.0),
        "feet": rng.uniform(10, 90, 3),
        "hair": np.array([40, 30, 20]) * rng.uniform(0.5, 2.5),
        "skin": skin,
        "short_sleeves": bool(rng.random() < 0.5),
        "skin_c": rng.uniform(33.8, 34.8),
        "shirt_c": rng.uniform(29.5, 31.0),
        "trousers_c": rng.uniform(28.0, 29.5),
        "feet_c": rng.uniform(30.0, 31.0),
        "turn_sign": float(rng.choice([-1, 1])),
    }


def _timeline(subject: dict[str, Any], walk_m: float) -> list[tuple[str, float]]:
    t = subject["tempo"]
    walk = walk_m / subject["speed"]
    return [("sit", 1.0 * t), ("stand_up", 1.6 * t), ("walk_out", walk), ("turn", 1.4 * t),
            ("walk_back", walk), ("turn_and_sit", 2.8 * t), ("sit", 1.0 * t)]


def _smooth(s: np.ndarray) -> np.ndarray:
    s = np.clip(s, 0, 1)
    return s * s * (3 - 2 * s)


def _poses(subject: dict[str, Any], scene: dict[str, Any], times: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame joint positions (F, 24, 3) in camera metres (x right, y up, z depth), phases."""
    hgt = subject["height"]
    thigh, shin, ankle_h = 0.245 * hgt, 0.246 * hgt, 0.04 * hgt
    walk_m = scene["walk_m"]
    timeline = _timeline(subject, walk_m)
    bounds = np.cumsum([0.0] + [d for _, d in timeline])
    f = len(times)
    phase = np.zeros(f, np.int64)
    local = np.zeros(f)  # 0..1 within the phase
    for k, (name, _) in enumerate(timeline):
        inside = (times >= bounds[k]) & (times < bounds[k + 1] if k + 1 < len(timeline) else times >= bounds[k])
        phase[inside] = PHASES.index(name)
        local[inside] = (times[inside] - bounds[k]) / (bounds[k + 1] - bounds[k])
    stage = np.searchsorted(bounds[1:], times, side="right").clip(0, len(timeline) - 1)

    psi = scene["path_angle"]
    out_dir = np.array([math.cos(psi), 0.0, math.sin(psi)])
    heading = np.full(f, psi)
    turn = subject["turn_sign"] * math.pi
    chair = scene["chair"]
    start = chair + thigh * out_dir
    end = start + walk_m * out_dir
    pos = np.zeros((f, 3))
    hip_flex = np.zeros((f, 2))
    knee_flex = np.zeros((f, 2))
    lean = np.zeros(f)
    shoulder = np.zeros((f, 2))
    elbow = np.full((f, 2), math.radians(20))
    gait_amp = np.zeros(f)
    step_hz = 0.9 * math.sqrt(subject["speed"])  # gait cycles a second
    gait_phase = 2 * math.pi * step_hz * times + subject["tempo"] * 3.0

    for i in range(f):
        s = local[i]
        name = timeline[stage[i]][0]
        seated_a = math.radians(90)
        if name == "sit":
            pos[i] = chair
            hip_flex[i] = seated_a
            knee_flex[i] = seated_a
            lean[i] = math.radians(-6)
            shoulder[i] = math.radians(25)
            elbow[i] = math.radians(55)
        elif name == "stand_up":
            e = _smooth(s)
            a = seated_a * (1 - e)
            hip_flex[i] = a
            knee_flex[i] = a
            pos[i] = chair + thigh * (1 - math.sin(a)) * out_dir
            lean[i] = math.radians(-6 + 46 * math.sin(math.pi * e))
            shoulder[i] = math.radians(25 - 10 * e + 20 * math.sin(math.pi * e))
            elbow[i] = math.radians(55 - 40 * e)
        elif name in ("walk_out", "walk_back"):
            going = name == "walk_out"
            pos[i] = start + (s if going else 1 - s) * walk_m * out_dir
            heading[i] = psi if going else psi + turn
            gait_amp[i] = 1.0
            lean[i] = math.radians(4)
        elif name == "turn":
            pos[i] = end
            heading[i] = psi + turn * _smooth(s)
            gait_amp[i] = 0.45
            lean[i] = math.radians(2)
        elif name == "turn_and_sit":
            if s < 0.45:
                e = _smooth(s / 0.45)
                pos[i] = start
                heading[i] = psi + turn * (1 - e)
                gait_amp[i] = 0.45
            else:
                e = _smooth((s - 0.45) / 0.55)
                a = seated_a * e
                hip_flex[i] = a
                knee_flex[i] = a
                pos[i] = chair + thigh * (1 - math.sin(a)) * out_dir
                lean[i] = math.radians(-6 + 40 * math.sin(math.pi * e))
                shoulder[i] = math.radians(15 + 10 * e)
                elbow[i] = math.radians(15 + 40 * e)

    # gait on top: legs swing in antiphase, arms opposite to the same-side leg
    gp = np.stack([gait_phase, gait_phase + math.pi], axis=1)
    swing = np.radians(24) * np.sin(gp) * gait_amp[:, None]
    knee_swing = np.radians(48) * np.maximum(0, np.cos(gp + math.pi / 4)) ** 2 * gait_amp[:, None]
    hip_flex = hip_flex + swing
    knee_flex = knee_flex + knee_swing + np.radians(6) * gait_amp[:, None]
    shoulder = shoulder - 0.8 * swing
    elbow = elbow + np.radians(10) * gait_amp[:, None]

    forward = np.stack([np.cos(heading), np.zeros(f), np.sin(heading)], axis=1)
    left = np.stack([-forward[:, 2], np.zeros(f), forward[:, 0]], axis=1)
    up = np.tile([0.0, 1.0, 0.0], (f, 1))
    trunk_up = np.cos(lean)[:, None] * up + np.sin(lean)[:, None] * forward
    trunk_fw = -np.sin(lean)[:, None] * up + np.cos(lean)[:, None] * forward

    def sag(angle: np.ndarray) -> np.ndarray:  # a unit vector hanging down, swung forward by angle
        return -np.cos(angle)[:, None] * up + np.sin(angle)[:, None] * forward

    # pelvis height: the lower foot stands on the floor
    ext = thigh * np.cos(hip_flex) + shin * np.cos(hip_flex - knee_flex) + ankle_h
    pelvis_y = np.max(ext, axis=1)
    seated = (hip_flex.min(axis=1) > math.radians(60))
    pelvis_y = np.where(seated, np.maximum(pelvis_y, scene["seat_h"] + 0.05), pelvis_y)
    pelvis = pos.copy()
    pelvis[:, 1] = pelvis_y + np.where(gait_amp > 0, 0.012 * np.abs(np.cos(gp[:, 0])), 0)

    b = subject["build"]
    joints = np.zeros((f, N_JOINTS, 3))
    joints[:, PELVIS] = pelvis
    hip_half = 0.085 * hgt * b
    joints[:, 11] = pelvis + hip_half * left
    joints[:, 12] = pelvis - hip_half * left
    neck = pelvis + 0.30 * hgt * trunk_up
    joints[:, NECK] = neck
    sho_half = 0.115 * hgt * b
    joints[:, 5] = neck - 0.025 * hgt * trunk_up + sho_half * left
    joints[:, 6] = neck - 0.025 * hgt * trunk_up - sho_half * left
    head_lean = 0.5 * lean
    head_up = np.cos(head_lean)[:, None] * up + np.sin(head_lean)[:, None] * forward
    head_fw = -np.sin(head_lean)[:, None] * up + np.cos(head_lean)[:, None] * forward
    head = neck + 0.095 * hgt * trunk_up + 0.01 * hgt * trunk_fw
    joints[:, HEAD] = head
    r_head = 0.066 * hgt

    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    joints[:, 0] = head + r_head * unit(1.0 * head_fw - 0.15 * head_up) * 1.08
    joints[:, 1] = head + r_head * unit(0.8 * head_fw + 0.22 * head_up + 0.42 * left)
    joints[:, 2] = head + r_head * unit(0.8 * head_fw + 0.22 * head_up - 0.42 * left)
    joints[:, 3] = head + r_head * unit(-0.1 * head_fw + 0.05 * head_up + 1.0 * left)
    joints[:, 4] = head + r_head * unit(-0.1 * head_fw + 0.05 * head_up - 1.0 * left)

    upper_arm, forearm, hand = 0.17 * hgt, 0.15 * hgt, 0.075 * hgt
    for side, (sho, elb, wri, hnd, sign) in enumerate(((5, 7, 9, LHAND, 1.0), (6, 8, 10, RHAND, -1.0))):
        out = sign * left * 0.12
        d1 = unit(sag(shoulder[:, side]) + out)
        joints[:, elb] = joints[:, sho] + upper_arm * d1
        d2 = unit(sag(shoulder[:, side] + elbow[:, side]) + out)
        joints[:, wri] = joints[:, elb] + forearm * d2
        joints[:, hnd] = joints[:, wri] + hand * d2
    for side, (hip, knee, ank, toe) in enumerate(((11, 13, 15, LTOE), (12, 14, 16, RTOE))):
        joints[:, knee] = joints[:, hip] + thigh * sag(hip_flex[:, side])
        joints[:, ank] = joints[:, knee] + shin * sag(hip_flex[:, side] - knee_flex[:, side])
        joints[:, toe] = joints[:, ank] + 0.13 * hgt * forward - 0.025 * hgt * up
    return {
        "joints": joints,
        "phase": phase,
        "head_axes": np.stack([head_fw, head_up, left], axis=1),  # (F, 3, 3)
        "r_head": r_head,
    }


def _scene(rng: np.random.Generator, subject: dict[str, Any]) -> dict[str, Any]:
    walk_m = rng.uniform(1.6, 1.9)
    psi = math.radians(rng.uniform(-55, -35))
    chair = np.array([rng.uniform(-1.4, -1.2), 0.0, rng.uniform(5.1, 5.4)])
    return {
        "walk_m": walk_m,
        "path_angle": psi,
        "chair": chair,
        "seat_h": 0.286 * subject["height"] - 0.05,
        "wall_rgb": rng.uniform(120, 230, 3),
        "floor_rgb": rng.uniform(60, 170, 3),
        "chair_rgb": rng.uniform(30, 120, 3),
        "light": rng.uniform(0.85, 1.1),
        "wall_c": rng.uniform(21.0, 23.0),
        "floor_drop_c": rng.uniform(0.3, 1.2),
        "noise_K": rng.uniform(0.05, 0.10),
        "texture_seed": int(rng.integers(2**31)),
        "door_x": rng.uniform(-2.0, 2.0),
    }


def _project(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera metres (…, 3) → RGB pixels (…, 2) and depth (…)."""
    w, h = RGB_SIZE
    z = points[..., 2]
    u = FOCAL_PX * points[..., 0] / z + (w - 1) / 2
    v = -FOCAL_PX * (points[..., 1] - CAMERA_HEIGHT_M) / z + (h - 1) / 2
    return np.stack([u, v], axis=-1), z


def _sequence(rng: np.random.Generator, index: int, homography: np.ndarray, fpn: np.ndarray) -> dict[str, Any]:
    subject = _subject(rng, index)
    scene = _scene(rng, subject)
    duration = sum(d for _, d in _timeline(subject, scene["walk_m"]))
    n = int(math.floor(duration * FPS)) + 1
    times = np.arange(n) / FPS
    pose = _poses(subject, scene, times)
    joints = pose["joints"]
    pix, depth = _project(joints)
    sid = f"s{index + 1:02d}"
    radii_m = np.array([[p[3], p[4]] for p in PARTS]) * subject["height"]
    radii_m[:, :] *= np.array([subject["build"] if p[0].startswith(("torso", "hips", "l_thigh", "r_thigh")) else 1.0
                               for p in PARTS])[:, None]

    out: dict[str, Any] = {}
    for stream in ("rgb", "thermal"):
        if stream == "rgb":
            size, ss = RGB_SIZE, 2
            points = pix
            jac_scale = np.ones(pix.shape[:-1])
        else:
            size, ss = THERMAL_SIZE, 3
            points = _apply_h(homography, pix)
            eps = 0.5
            dx = _apply_h(homography, pix + [eps, 0]) - points
            dy = _apply_h(homography, pix + [0, eps]) - points
            jac_scale = np.sqrt(np.abs(dx[..., 0] * dy[..., 1] - dx[..., 1] * dy[..., 0])) / eps
        frames, mask, zbuf = _render(stream, size, ss, points, depth, jac_scale, radii_m, pose, subject, scene, fpn,
                                     homography, rng)
        keypoints, boxes = _labels(points[:, :17], depth[:, :17], mask, zbuf, subject["height"], size)
        out[stream] = {
            "frames": frames,
            "keypoints": keypoints,
            "boxes": boxes,
            "labels": pose["phase"],
            "subject": np.array([sid] * n, dtype=object),
            "sequence": np.array([f"{sid}_tug"] * n, dtype=object),
            "frame_index": np.arange(n, dtype=np.int64),
            "capture_time": 60.0 * index + 1000.0 + times,
        }
    return out


# ---- rendering -------------------------------------------------------------------------------


def _capsule(grid_x: np.ndarray, grid_y: np.ndarray, a: np.ndarray, b: np.ndarray, ra: np.ndarray, rb: np.ndarray):
    """Distance fields of F capsules over per-frame grids (F, H, W): (t along a→b, ρ = dist/radius) each (F, H, W)."""
    ax, ay = a[:, 0, None, None], a[:, 1, None, None]
    dx, dy = (b[:, 0] - a[:, 0])[:, None, None], (b[:, 1] - a[:, 1])[:, None, None]
    len2 = np.maximum(dx * dx + dy * dy, 1e-9)
    px, py = grid_x - ax, grid_y - ay
    t = np.clip((px * dx + py * dy) / len2, 0.0, 1.0)
    ex, ey = px - t * dx, py - t * dy
    r = ra[:, None, None] + t * (rb - ra)[:, None, None]
    rho = np.sqrt(ex * ex + ey * ey) / np.maximum(r, 1e-6)
    return t, rho, ex / np.maximum(r, 1e-6), ey / np.maximum(r, 1e-6)


def _render(stream, size, ss, points, depth, jac_scale, radii_m, pose, subject, scene, fpn, homography, rng):
    """Render frames; returns frames (F, H, W[, 3]), person coverage (F, H, W), z-buffer (F, H, W)."""
    import cv2

    w, h = size
    f = points.shape[0]
    part_id, t_best, rho_best, nx_best, ny_best, zbuf = _zbuffer(size, ss, points, depth, jac_scale, radii_m)
    covered = part_id >= 0

    # head: surface normal → facing direction (face / hair / eyes / nose / ears)
    is_head = part_id == HEAD_PART
    frame_of = np.nonzero(is_head)[0]
    hx, hy = nx_best[is_head], ny_best[is_head]
    normal = np.stack([hx, -hy, -np.sqrt(np.clip(1 - hx**2 - hy**2, 0, 1))], axis=-1)  # camera axes, y up
    head_dots = np.einsum("mc,mkc->mk", normal, pose["head_axes"][frame_of])  # forward, up, left
    dots = np.zeros(is_head.shape + (3,), np.float32)
    dots[is_head] = head_dots
    fw, upd, lf = dots[..., 0], dots[..., 1], dots[..., 2]
    hair = is_head & ((fw < -0.05) | (upd > 0.62))
    eyes = is_head & (fw > 0.55) & (np.abs(upd - 0.25) < 0.18) & (np.abs(np.abs(lf) - 0.42) < 0.2)
    nose = is_head & (fw > 0.9) & (upd < 0.05) & ~eyes
    ears = is_head & (np.abs(lf) > 0.88) & (np.abs(upd) < 0.3) & ~hair

    mat_of = np.where(covered, part_id, 0)
    left_side = np.array([p[0].startswith("l_") for p in PARTS])
    right_side = np.array([p[0].startswith("r_") for p in PARTS])
    shade = np.sqrt(np.clip(1 - rho_best**2, 0, 1))
    # creases at the joints of the limbs: slightly darker (RGB) / warmer fabric contact (thermal)
    limb = np.array([p[0].startswith(("l_", "r_")) for p in PARTS])
    crease = limb[mat_of] * (np.exp(-((t_best / 0.12) ** 2)) + np.exp(-(((1 - t_best) / 0.12) ** 2)))

    if stream == "rgb":
        colours = np.zeros((len(PARTS), 3))
        for k, (_name, *_rest, material) in enumerate(PARTS):
            if material == "sleeve":
                material = "skin" if subject["short_sleeves"] else "shirt"
            if material == "head":
                material = "skin"
            colours[k] = subject[material]
            if left_side[k]:
                colours[k] = colours[k] * 0.75 + 0.25 * np.array([235, 235, 210])
            elif right_side[k]:
                colours[k] = colours[k] * 0.72
        person = colours[mat_of]  # (F, H, W, 3)
        person = person * (0.62 + 0.38 * shade)[..., None] * (1 - 0.22 * crease)[..., None]
        person = np.where(hair[..., None], subject["hair"], person)
        person = np.where(eyes[..., None], np.array([30.0, 25, 25]), person)
        person = np.where(nose[..., None], subject["skin"] * np.array([0.85, 0.7, 0.65]), person)
        person = np.where(ears[..., None], subject["skin"] * 0.8, person)
        background = _rgb_background(scene, size, ss)
        image = np.where(covered[..., None], person, background[None])
        image = image * scene["light"]
        image = _downsample(image, ss)
        image = image + rng.normal(0, 2.5, image.shape)
        frames = np.clip(np.round(image), 0, 255).astype(np.uint8)
    else:
        temp_a = np.zeros(len(PARTS))
        temp_b = np.zeros(len(PARTS))
        for k, (name, *_rest, material) in enumerate(PARTS):
            if material == "sleeve":
                material = "skin" if subject["short_sleeves"] else "shirt"
            base = {"shirt": subject["shirt_c"], "trousers": subject["trousers_c"], "feet": subject["feet_c"],
                    "skin": subject["skin_c"] - 0.6, "head": subject["skin_c"]}[material]
            temp_a[k] = temp_b[k] = base
            if name.endswith("forearm") and material == "shirt":
                temp_a[k], temp_b[k] = base - 0.6, base - 1.3
            if name.endswith("upper_arm"):
                temp_b[k] = base - 0.5
            if name.endswith("thigh"):
                temp_a[k], temp_b[k] = base + 0.4, base - 0.6
            if name.endswith("shin"):
                temp_a[k], temp_b[k] = base - 0.8, base - 0.2
            if name.endswith("hand"):
                temp_a[k], temp_b[k] = subject["skin_c"] - 0.7, subject["skin_c"] - 1.4
        part_temp = temp_a[mat_of] + t_best * (temp_b[mat_of] - temp_a[mat_of])
        part_temp = part_temp - 1.0 * (1 - shade) + 0.35 * crease
        part_temp = np.where(hair, subject["skin_c"] - 3.5, part_temp)
        part_temp = np.where(eyes, subject["skin_c"] + 0.7, part_temp)
        part_temp = np.where(nose | ears, subject["skin_c"] - 1.8, part_temp)
        background = _thermal_background(scene, size, ss, homography)
        image = np.where(covered, part_temp, background[None])
        image = _downsample(image, ss)
        image = np.stack([cv2.GaussianBlur(frame, (0, 0), 0.6) for frame in image])
        image = image + fpn[None] + rng.normal(0, scene["noise_K"], image.shape)
        image = image + rng.normal(0, 0.03, (f, 1, 1))  # slow offset drift between shutter calibrations
        frames = image.astype(np.float32)
    coverage = _downsample(covered.astype(np.float64), ss)
    zlow = np.min(zbuf.reshape(f, h, ss, w, ss), axis=(2, 4))
    return frames, coverage, zlow


def _zbuffer(size, ss, points, depth, jac_scale, radii_m):
    """Nearest part per supersampled pixel: part id (−1 none), t, ρ, normal x/y, depth; each (F, H·ss, W·ss).

    Only a window around the person is computed (the same size in every frame, so it vectorises).
    """
    w, h = size
    f = points.shape[0]
    r_max = FOCAL_PX * radii_m.max() / depth.min(axis=1) * jac_scale.max(axis=1) + 2  # (F,)
    lo = np.floor(points.min(axis=1) - r_max[:, None]).astype(int)
    hi = np.ceil(points.max(axis=1) + r_max[:, None]).astype(int)
    win_w = int(min(w, max(1, (hi[:, 0] - lo[:, 0]).max())))
    win_h = int(min(h, max(1, (hi[:, 1] - lo[:, 1]).max())))
    x0 = np.clip(lo[:, 0], 0, w - win_w)
    y0 = np.clip(lo[:, 1], 0, h - win_h)
    local_x = (np.arange(win_w * ss) + 0.5) / ss - 0.5
    local_y = (np.arange(win_h * ss) + 0.5) / ss - 0.5
    grid_x = x0[:, None, None] + local_x[None, None, :] + 0 * local_y[None, :, None]
    grid_y = y0[:, None, None] + local_y[None, :, None] + 0 * local_x[None, None, :]
    shape = (f, win_h * ss, win_w * ss)
    zbuf = np.full(shape, np.inf)
    part_id = np.full(shape, -1, np.int16)
    t_best, rho_best, nx_best, ny_best = (np.zeros(shape, np.float32) for _ in range(4))
    for k, (_, ja, jb, _, _, _) in enumerate(PARTS):
        za, zb = depth[:, ja], depth[:, jb]
        ra_px = FOCAL_PX * radii_m[k, 0] / za * jac_scale[:, ja]
        rb_px = FOCAL_PX * radii_m[k, 1] / zb * jac_scale[:, jb]
        t, rho, nx, ny = _capsule(grid_x, grid_y, points[:, ja], points[:, jb], ra_px, rb_px)
        r_m = radii_m[k, 0] + t * (radii_m[k, 1] - radii_m[k, 0])
        z = za[:, None, None] + t * (zb - za)[:, None, None] - r_m * np.sqrt(np.clip(1 - rho * rho, 0, 1))
        nearer = (rho < 1.0) & (z < zbuf)
        zbuf[nearer] = z[nearer]
        part_id[nearer] = k
        t_best[nearer] = t[nearer]
        rho_best[nearer] = rho[nearer]
        nx_best[nearer] = nx[nearer]
        ny_best[nearer] = ny[nearer]
    full = (f, h * ss, w * ss)
    outputs = []
    for window, fill in ((part_id, -1), (t_best, 0), (rho_best, 0), (nx_best, 0), (ny_best, 0), (zbuf, np.inf)):
        canvas = np.full(full, fill, window.dtype)
        for i in range(f):
            ys, xs = y0[i] * ss, x0[i] * ss
            canvas[i, ys : ys + win_h * ss, xs : xs + win_w * ss] = window[i]
        outputs.append(canvas)
    return tuple(outputs)


def _downsample(image: np.ndarray, ss: int) -> np.ndarray:
    f, hh, ww = image.shape[:3]
    rest = image.shape[3:]
    return image.reshape(f, hh // ss, ss, ww // ss, ss, *rest).mean(axis=(2, 4))


def _texture(shape: tuple[int, int], seed: int, cells: int) -> np.ndarray:
    """Smooth noise in [-1, 1]: a coarse random grid upsampled bicubically."""
    import cv2

    rng = np.random.default_rng(seed)
    coarse = rng.uniform(-1, 1, (cells, max(2, cells * shape[1] // shape[0])))
    return cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def _layout_masks(scene: dict[str, Any], size, ss, homography: np.ndarray | None):
    """Pixel coordinates (in RGB pixels) and floor, door and chair masks of a stream's
    supersampled grid; ``homography`` maps RGB to that stream's pixels (None: the RGB stream)."""
    w, h = size
    yy, xx = np.mgrid[0 : h * ss, 0 : w * ss]
    x = (xx + 0.5) / ss - 0.5
    y = (yy + 0.5) / ss - 0.5
    if homography is not None:  # thermal grid → RGB pixel coordinates
        pts = _apply_h(np.linalg.inv(homography), np.stack([x, y], axis=-1))
        x, y = pts[..., 0], pts[..., 1]
    horizon = (RGB_SIZE[1] - 1) / 2 + FOCAL_PX * CAMERA_HEIGHT_M / WALL_DEPTH_M
    floor = y > horizon
    # door on the wall: x in metres at the wall depth
    wall_x = (x - (RGB_SIZE[0] - 1) / 2) * WALL_DEPTH_M / FOCAL_PX
    wall_y = CAMERA_HEIGHT_M - (y - (RGB_SIZE[1] - 1) / 2) * WALL_DEPTH_M / FOCAL_PX
    door = (~floor) & (np.abs(wall_x - scene["door_x"]) < 0.45) & (wall_y < 2.05)
    # chair: seat and backrest as screen rectangles at the chair's depth
    chair = scene["chair"]
    psi = scene["path_angle"]
    back = chair - 0.25 * np.array([math.cos(psi), 0, math.sin(psi)])
    (cu, cv), cz = _project(np.array([chair[0], scene["seat_h"], chair[2]]))
    (bu, _), _ = _project(np.array([back[0], 0.9, back[2]]))
    (_, fv), _ = _project(np.array([chair[0], 0.0, chair[2]]))
    (_, tv), _ = _project(np.array([back[0], scene["seat_h"] + 0.45, back[2]]))
    px_m = FOCAL_PX / cz
    seat = (np.abs(x - cu) < 0.24 * px_m) & (np.abs(y - cv) < 0.03 * px_m)
    backrest = (np.abs(x - bu) < 0.04 * px_m) & (y > tv) & (y < cv)
    legs = ((np.abs(x - (cu - 0.2 * px_m)) < 0.02 * px_m) | (np.abs(x - (cu + 0.2 * px_m)) < 0.02 * px_m)) & (y > cv) & (y < fv)
    return x, y, floor, door, seat | backrest | legs


def _rgb_background(scene: dict[str, Any], size, ss) -> np.ndarray:
    x, y, floor, door, chair = _layout_masks(scene, size, ss, None)
    hh, ww = x.shape
    tex = _texture((hh, ww), scene["texture_seed"], 6)
    fine = _texture((hh, ww), scene["texture_seed"] + 1, 24)
    wall = scene["wall_rgb"][None, None] * (1 + 0.10 * tex + 0.06 * fine)[..., None]
    # tiles: faint grout lines on the wall
    grout = ((np.mod(x, 11.0) < 0.7) | (np.mod(y, 9.0) < 0.7)) & ~floor
    wall = np.where(grout[..., None], wall * 0.85, wall)
    planks = 0.5 + 0.5 * np.sin(x / 3.0 + 0.3 * y)
    floor_rgb = scene["floor_rgb"][None, None] * (0.85 + 0.15 * planks + 0.08 * fine)[..., None]
    image = np.where(floor[..., None], floor_rgb, wall)
    image = np.where(door[..., None], scene["wall_rgb"] * 0.55 + np.array([30, 15, 0]), image)
    image = np.where(chair[..., None], scene["chair_rgb"], image)
    return image


def _thermal_background(scene: dict[str, Any], size, ss, homography: np.ndarray) -> np.ndarray:
    # thermal grid pixels are mapped into RGB pixel coordinates for the layout
    x, y, floor, door, chair = _layout_masks(scene, size, ss, homography)
    hh, ww = x.shape
    tex = _texture((hh, ww), scene["texture_seed"] + 2, 4)
    wall = scene["wall_c"] + 0.6 * (1 - y / RGB_SIZE[1]) + 0.25 * tex
    temp = np.where(floor, scene["wall_c"] - scene["floor_drop_c"] + 0.15 * tex, wall)
    temp = np.where(door, scene["wall_c"] - 0.7, temp)
    temp = np.where(chair, scene["wall_c"] + 1.0, temp)
    return np.clip(temp, 20.0, 24.0)


# ---- labels ----------------------------------------------------------------------------------


def _labels(points, depth, coverage, zbuf, height, size):
    """Keypoints (F, 1, 17, 3) with visibility from a depth test, and boxes (F, 1, 4)."""
    w, h = size
    f = points.shape[0]
    inside = (points[..., 0] >= 0) & (points[..., 0] <= w - 1) & (points[..., 1] >= 0) & (points[..., 1] <= h - 1)
    col = np.clip(np.round(points[..., 0]), 0, w - 1).astype(int)
    row = np.clip(np.round(points[..., 1]), 0, h - 1).astype(int)
    surface = zbuf[np.arange(f)[:, None], row, col]  # (F, 17)
    # how deep a keypoint may lie under the visible surface and still count as visible
    tolerance = np.full(17, 0.02)
    joint_radius = {5: 0.04, 6: 0.04, 7: 0.03, 8: 0.03, 9: 0.025, 10: 0.025, 11: 0.05, 12: 0.05,
                    13: 0.04, 14: 0.04, 15: 0.03, 16: 0.03}
    for j, r in joint_radius.items():
        tolerance[j] = r * height + 0.02
    visible = depth <= surface + tolerance[None]
    vis = np.where(inside, np.where(visible, 2, 1), 0).astype(np.float32)
    kp = np.zeros((f, 1, 17, 3), np.float32)
    kp[:, 0, :, 0] = np.where(inside, points[..., 0], 0)
    kp[:, 0, :, 1] = np.where(inside, points[..., 1], 0)
    kp[:, 0, :, 2] = vis
    boxes = np.full((f, 1, 4), np.nan, np.float32)
    for i in range(f):
        mask = coverage[i] >= 0.5
        labelled = kp[i, 0, :, 2] > 0
        if not mask.any() and not labelled.any():
            kp[i] = 0
            continue
        xs, ys = [], []
        if mask.any():
            rows, cols = np.nonzero(mask)
            xs += [cols.min() - 0.5, cols.max() + 0.5]
            ys += [rows.min() - 0.5, rows.max() + 0.5]
        if labelled.any():
            xs += [kp[i, 0, labelled, 0].min() - 0.5, kp[i, 0, labelled, 0].max() + 0.5]
            ys += [kp[i, 0, labelled, 1].min() - 0.5, kp[i, 0, labelled, 1].max() + 0.5]
        x0, x1 = max(min(xs), -0.5), min(max(xs), w - 0.5)
        y0, y1 = max(min(ys), -0.5), min(max(ys), h - 0.5)
        boxes[i, 0] = [x0, y0, x1 - x0, y1 - y0]
    return kp, boxes


# ---- assembling ------------------------------------------------------------------------------


def _concat(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def _dataset(stream: dict[str, Any], keep: np.ndarray, timestamps: np.ndarray, *, modality: str, unit: str,
             attrs: dict[str, Any]) -> Dataset:
    meta = Meta(
        unit=unit,
        modality=modality,
        class_names=list(PHASES),
        keypoint_names=list(COCO_KEYPOINT_NAMES),
        skeleton=[list(e) for e in COCO_SKELETON],
        sigmas=list(COCO_SIGMAS),
        flip_pairs=[list(p) for p in COCO_FLIP_PAIRS],
        box_class_names=["person"],
        attrs=attrs,
    )
    n = len(keep)
    return Dataset(
        frames=np.ascontiguousarray(stream["frames"][keep]),
        meta=meta,
        labels=stream["labels"][keep].astype(np.int64),
        keypoints=stream["keypoints"][keep].astype(np.float32),
        boxes=stream["boxes"][keep].astype(np.float32),
        box_classes=np.zeros((n, 1), np.int32),
        subject=stream["subject"][keep],
        sequence=stream["sequence"][keep],
        timestamp=timestamps[keep].astype(np.float64),
        columns={"frame_index": stream["frame_index"][keep]},
    )
