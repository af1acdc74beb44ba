"""``breathing``: thermal lower-face crops (°C) with per-frame INH/EXH labels.

Physics, kept simple but in the right direction:

- A face on a room background: skin 33–35 °C (per subject), a cooler nose tip, background
  21–25 °C, sensor noise σ = 50–100 mK plus fixed-pattern column stripes (per subject's camera).
- Breathing is a flow signal ``f(t)`` (> 0 exhaling, < 0 inhaling, 0 in a pause): breaths at
  8–25 per minute, each breath's period jittered ±15 % and its amplitude drawn in 0.5–1.5,
  inhalation ≈ 40 % of a breath, and an end-expiratory pause after about a third of the breaths.
- The airway (nostrils, or the mouth for mouth-breathing sequences) relaxes towards a warm target
  while exhaling (exhaled air ≈ 35 °C) and a cool one while inhaling (room air), with a time
  constant of 0.3 s, so its temperature lags the flow; a warm plume below the airway is visible
  only while air is being exhaled.
- The head moves: a slow random drift of ±1.5 px plus small jitter (the airway position is stored).

Labels: ``0 = INH``, ``1 = EXH``; frames in a pause are ``-1`` (unlabelled: neither phase).
Per-frame columns: ``flow`` (the generator's flow, arbitrary units), ``airway_celsius`` (the
airway's true temperature), ``airway_xy`` (x, y pixel of the airway centre), ``true_rate_bpm``
(the sequence's nominal breathing rate, breaths per minute: the ground truth for respiration-rate
estimation) and ``mouth_breathing`` (1 when the sequence breathes through the mouth).
"""

from __future__ import annotations

import numpy as np

KIND = "breathing"
SUMMARY = "thermal lower-face crops (20×24 °C, 4 fps) with INH/EXH labels, 8 subjects × 2 sequences"

HEIGHT, WIDTH = 20, 24
FPS = 4.0
SUBJECTS = 8
SEQUENCES = 2
FRAMES_PER_SEQUENCE = 64  # 16 s at 4 fps; 1024 frames = two whole HDF5 chunks
TAU_S = 0.3  # airway temperature time constant
_SIM_HZ = 100.0  # the airway ODE is integrated at this rate, then sampled at FPS


def _flow(rng: np.random.Generator, duration: float, rate_bpm: float) -> tuple[np.ndarray, np.ndarray]:
    """Flow on the simulation grid: (t, f) with f > 0 exhaling, < 0 inhaling, 0 pausing."""
    t = np.arange(0.0, duration, 1.0 / _SIM_HZ)
    f = np.zeros_like(t)
    # start anywhere within a breath, so sequences do not all begin with an inhalation
    now = -rng.uniform(0, 60.0 / rate_bpm)
    while now < duration:
        period = 60.0 / rate_bpm * rng.uniform(0.85, 1.15)
        amplitude = rng.uniform(0.5, 1.5)
        pause = rng.uniform(0.5, 1.5) if rng.random() < 0.35 else 0.0
        active = max(period - pause, 1.2)
        t_inh = active * rng.uniform(0.35, 0.45)
        t_exh = active - t_inh
        for start, length, sign in ((now, t_inh, -1.0), (now + t_inh, t_exh, 1.0)):
            inside = (t >= start) & (t < start + length)
            u = (t[inside] - start) / length
            f[inside] = sign * amplitude * np.sin(np.pi * u)
        now += t_inh + t_exh + pause
    return t, f


def _sequence(rng: np.random.Generator, subject: dict, n_frames: int, mouth: bool) -> dict[str, np.ndarray]:
    duration = n_frames / FPS
    rate = rng.uniform(8.0, 25.0)
    t_sim, f_sim = _flow(rng, duration + 1.0, rate)
    # airway temperature: first-order relaxation towards the phase's target
    base = subject["skin"] - 0.8
    warm, cool = subject["exhaled"], subject["room"] + 6.0
    temp = np.empty_like(f_sim)
    value = base
    alpha = 1.0 / (TAU_S * _SIM_HZ)
    for i, flow in enumerate(f_sim):
        if flow > 0:
            target = base + (warm - base) * min(1.0, 0.6 + 0.4 * flow)
        elif flow < 0:
            target = base + (cool - base) * min(1.0, 0.25 + 0.35 * -flow)
        else:
            target = base
        value += alpha * (target - value)
        temp[i] = value
    t = np.arange(n_frames) / FPS
    idx = np.minimum(np.round(t * _SIM_HZ).astype(int), len(t_sim) - 1)
    flow, airway = f_sim[idx], temp[idx]
    labels = np.where(flow > 0, 1, np.where(flow < 0, 0, -1)).astype(np.int64)

    # head motion: a slow drift (smoothed random walk) plus a little jitter
    drift = np.cumsum(rng.normal(0, 0.35, (n_frames, 2)), axis=0)
    drift -= drift.mean(axis=0)
    drift = 1.5 * drift / max(1.0, np.abs(drift).max() / 1.0)
    motion = drift + rng.normal(0, 0.2, (n_frames, 2))

    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    frames = np.empty((n_frames, HEIGHT, WIDTH), np.float32)
    airway_xy = np.empty((n_frames, 2), np.float32)
    cx0, cy0 = subject["cx"], subject["cy"]
    for k in range(n_frames):
        cx, cy = cx0 + motion[k, 0], cy0 + motion[k, 1]
        # face: an ellipse of skin, a soft edge onto the background, a slight vertical gradient
        r = ((xx - cx) / subject["ax"]) ** 2 + ((yy - cy + 2) / subject["ay"]) ** 2
        face = 1.0 / (1.0 + np.exp((r - 1.0) * 8.0))
        skin = subject["skin"] - 0.05 * (yy - cy)
        image = subject["room"] + (skin - subject["room"]) * face
        # the nose tip is cooler (peripheral vasoconstriction, exposed cartilage)
        nose_y = cy - 3.0
        image -= 1.2 * np.exp(-((xx - cx) ** 2 + (yy - nose_y) ** 2) / (2 * 2.5**2))
        if mouth:
            ay_ = cy + 5.0
            airway_mask = np.exp(-(((xx - cx) / 2.6) ** 2 + ((yy - ay_) / 1.1) ** 2) / 2)
            plume_y, plume_sx = ay_ + 2.5, 3.0
        else:
            ay_ = cy
            airway_mask = sum(
                np.exp(-((xx - (cx + dx)) ** 2 + (yy - ay_) ** 2) / (2 * 1.0**2)) for dx in (-2.2, 2.2)
            )
            plume_y, plume_sx = ay_ + 2.5, 2.5
        airway_xy[k] = (cx, ay_)
        image += (airway[k] - (subject["skin"] - 0.3)) * airway_mask
        # the exhaled plume is warm air leaving the airway: only while flow is outwards
        plume = max(flow[k], 0.0) ** 0.5 * subject["plume"]
        image += plume * np.exp(-(((xx - cx) / plume_sx) ** 2 + ((yy - plume_y) / 2.0) ** 2) / 2)
        frames[k] = image
    noise = rng.normal(0.0, subject["noise"], frames.shape).astype(np.float32)
    frames = frames + noise + subject["stripes"][None, None, :]
    return {
        "frames": frames.astype(np.float32),
        "labels": labels,
        "timestamp": t + subject["t0"],
        "flow": flow.astype(np.float32),
        "airway_celsius": airway.astype(np.float32),
        "airway_xy": airway_xy,
        "rate": np.full(n_frames, rate, np.float32),
    }


def generate(*, seed: int = 0, scale: float = 1.0) -> dict:
    """``{"breathing.h5": Dataset}``: SUBJECTS × SEQUENCES sequences of ``64·scale`` frames.

    frames: (N, 20, 24) float32 °C; labels (N,) int64 in {-1, 0, 1}.
    """
    from thermcli.io import Dataset, Meta

    rng = np.random.default_rng(seed)
    n_frames = max(12, int(round(FRAMES_PER_SEQUENCE * scale)))
    parts: dict[str, list[np.ndarray]] = {}
    subjects, sequences, mouth_col = [], [], []
    for s in range(SUBJECTS):
        subject = {
            "skin": rng.uniform(33.0, 35.0),
            "room": rng.uniform(21.0, 25.0),
            "exhaled": rng.uniform(34.5, 35.5),
            "plume": rng.uniform(0.6, 1.2),
            "noise": rng.uniform(0.05, 0.10),
            "stripes": rng.normal(0, 0.04, WIDTH).astype(np.float32),
            "cx": WIDTH / 2 + rng.uniform(-1.5, 1.5),
            "cy": HEIGHT / 2 - 1 + rng.uniform(-1.0, 1.0),
            "ax": rng.uniform(10.0, 13.0),
            "ay": rng.uniform(11.0, 14.0),
            "t0": 0.0,
        }
        for q in range(SEQUENCES):
            mouth = bool(rng.random() < 0.3)
            subject["t0"] = 1000.0 * q
            seq = _sequence(rng, subject, n_frames, mouth)
            for key, value in seq.items():
                parts.setdefault(key, []).append(value)
            subjects += [f"S{s:02d}"] * n_frames
            sequences += [f"S{s:02d}-{q}"] * n_frames
            mouth_col.append(np.full(n_frames, int(mouth), np.uint8))
    meta = Meta(
        unit="celsius",
        modality="thermal",
        class_names=["INH", "EXH"],
        attrs={
            "generator": KIND,
            "fps": FPS,
            "pause_label": -1,
            "description": "lower-face thermal crops; airway warms on exhalation, cools on inhalation",
        },
    )
    dataset = Dataset(
        frames=np.concatenate(parts["frames"]),
        meta=meta,
        labels=np.concatenate(parts["labels"]),
        subject=np.array(subjects, dtype=object),
        sequence=np.array(sequences, dtype=object),
        timestamp=np.concatenate(parts["timestamp"]).astype(np.float64),
        columns={
            "flow": np.concatenate(parts["flow"]),
            "airway_celsius": np.concatenate(parts["airway_celsius"]),
            "airway_xy": np.concatenate(parts["airway_xy"]),
            "true_rate_bpm": np.concatenate(parts["rate"]),
            "mouth_breathing": np.concatenate(mouth_col),
        },
    )
    return {"breathing.h5": dataset}
