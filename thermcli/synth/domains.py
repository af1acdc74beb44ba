"""``domains``: a labelled RGB-like source domain and an unlabelled thermal-like target domain
of the same classes, for domain adaptation (``thermcli adapt``).

Two variants, each a source / target-train / target-test triple:

- shapes, multi-class (6 classes: disc, ring, square, triangle, cross, bar), 28×28 uint8.
  Source: the luminance of a colour rendering — dark shapes on light, textured, unevenly lit
  backgrounds. Target: what a thermal camera shows of the same scene — the shapes are warm, so
  they are *bright* on a cool, dark background (contrast polarity flipped), rendered at 14×14
  and upsampled (lower resolution), blurred (optics), with sensor noise and fixed-pattern column
  stripes.
- faces, multi-label (``label_kind="multilabel"``): schematic faces with five action-unit-like
  labels (AU01 inner brow raiser, AU04 brow lowerer, AU12 lip corner puller, AU25 lips part,
  AU43 eyes closed), each present independently. Source: a mid-grey face with dark features on
  a light background; target: a warm (bright) face on a cool background whose features (brows,
  lids, lips) are cooler than the skin, at 3/4 resolution, blurred, noisy.

Target labels are for evaluation only: ``*target_train.h5`` carries none (multi-class: −1 for
every frame; multi-label: no ``labels`` field), ``*target_test.h5`` carries them.
"""

from __future__ import annotations

import numpy as np

from thermcli.io import Dataset, Meta

KIND = "domains"
SUMMARY = "RGB-like labelled source + thermal-like unlabelled target (shapes; AU-like multi-label faces)"

SHAPES = ["disc", "ring", "square", "triangle", "cross", "bar"]
ACTION_UNITS = ["AU01", "AU04", "AU12", "AU25", "AU43"]
SIZE = 28
# file → frames at scale 1.0 (28×28 uint8 = 784 B a frame; all files together stay under 2 MB)
# (counts ≤ 512 or multiples of 512: the HDF5 writer allocates whole 512-row chunks)
COUNTS = {
    "source_train.h5": 512,
    "target_train.h5": 512,
    "target_test.h5": 384,
    "au_source_train.h5": 256,
    "au_target_train.h5": 192,
    "au_target_test.h5": 192,
}
SOURCE_DARK_FRACTION = 0.75
_SS = 4  # supersampling factor for anti-aliased rendering


def _shape_mask(cls: int, rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size) float32 coverage in 0..1 of one shape of class ``cls``, random pose."""
    import cv2

    big = size * _SS
    canvas = np.zeros((big, big), np.uint8)
    radius = rng.uniform(0.24, 0.36) * big
    cx, cy = (big / 2 + rng.uniform(-0.12, 0.12, 2) * big)
    angle = rng.uniform(0, 2 * np.pi)
    thick = max(2, int(radius * rng.uniform(0.28, 0.4)))

    def poly(points: np.ndarray) -> None:
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        pts = points @ rot.T + [cx, cy]
        cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 255, lineType=cv2.LINE_8)

    name = SHAPES[cls]
    if name == "disc":
        cv2.circle(canvas, (int(cx), int(cy)), int(radius), 255, -1)
    elif name == "ring":
        cv2.circle(canvas, (int(cx), int(cy)), int(radius - thick / 2), 255, thick)
    elif name == "square":
        r = radius * 0.85
        poly(np.array([[-r, -r], [r, -r], [r, r], [-r, r]]))
    elif name == "triangle":
        t = np.array([0, 2 * np.pi / 3, 4 * np.pi / 3]) - np.pi / 2
        poly(np.stack([np.cos(t), np.sin(t)], 1) * radius * 1.1)
    elif name == "cross":
        w = thick / 2
        poly(np.array([[-radius, -w], [radius, -w], [radius, w], [-radius, w]]))
        poly(np.array([[-w, -radius], [w, -radius], [w, radius], [-w, radius]]))
    else:  # bar
        w = radius * 0.28
        poly(np.array([[-radius * 1.15, -w], [radius * 1.15, -w], [radius * 1.15, w], [-radius * 1.15, w]]))
    return cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _face_mask(aus: np.ndarray, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A schematic face: (skin coverage, feature coverage), each (size, size) float32 0..1."""
    import cv2

    big = size * _SS
    skin = np.zeros((big, big), np.uint8)
    feat = np.zeros((big, big), np.uint8)
    cx = big / 2 + rng.uniform(-0.05, 0.05) * big
    cy = big / 2 + rng.uniform(-0.04, 0.04) * big
    s = rng.uniform(0.85, 1.0) * big / 28  # pixels of the 28-grid at this scale
    cv2.ellipse(skin, (int(cx), int(cy)), (int(10.5 * s), int(13 * s)), 0, 0, 360, 255, -1)
    lw = max(1, int(1.4 * s))
    for side in (-1, 1):
        ex, ey = cx + side * 4.5 * s, cy - 2.5 * s
        if aus[4]:  # AU43 eyes closed: a line
            cv2.line(feat, (int(ex - 2.2 * s), int(ey)), (int(ex + 2.2 * s), int(ey)), 255, lw)
        else:
            cv2.circle(feat, (int(ex), int(ey)), int(1.8 * s), 255, -1)
        by = ey - 4.0 * s - (2.0 * s if aus[0] else 0.0) + (1.2 * s if aus[1] else 0.0)
        inner = 2.2 * s if aus[1] else 0.0  # AU04 pulls the inner ends down
        p_in = (int(cx + side * 2.0 * s), int(by + inner))
        p_out = (int(cx + side * 7.0 * s), int(by - (1.0 * s if aus[0] else 0.0)))
        cv2.line(feat, p_in, p_out, 255, lw)
    my = cy + 6.0 * s
    if aus[3]:  # AU25 lips part: an open mouth
        cv2.ellipse(feat, (int(cx), int(my)), (int(3.5 * s), int(2.2 * s)), 0, 0, 360, 255, -1)
    else:
        cv2.line(feat, (int(cx - 3.5 * s), int(my)), (int(cx + 3.5 * s), int(my)), 255, lw)
    if aus[2]:  # AU12 lip corners up
        for side in (-1, 1):
            cv2.line(feat, (int(cx + side * 3.5 * s), int(my)), (int(cx + side * 5.5 * s), int(my - 2.5 * s)), 255, lw)
    down = lambda m: cv2.resize(m, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0  # noqa: E731
    return down(skin), down(feat)


def _source_image(fg: np.ndarray, rng: np.random.Generator, feat: np.ndarray | None = None) -> np.ndarray:
    """RGB-like: luminance of a dark coloured object on a light, textured, unevenly lit background."""
    import cv2

    size = fg.shape[0]
    yy, xx = np.mgrid[0:size, 0:size] / size
    light = 165 + 40 * rng.uniform(-1, 1) * (xx - 0.5) + 40 * rng.uniform(-1, 1) * (yy - 0.5)
    texture = cv2.GaussianBlur(rng.normal(0, 22, (size, size)).astype(np.float32), (0, 0), 1.2)
    background = light + texture
    # colour objects are mostly darker than the light background, sometimes lighter (white paint)
    dark = rng.random() < SOURCE_DARK_FRACTION
    obj = (rng.uniform(45, 105) if dark else rng.uniform(215, 250)) + rng.normal(0, 4, (size, size))
    if not dark:
        background = background - 50
    image = background * (1 - fg) + obj * fg
    if feat is not None:  # facial features darker still
        image = image * (1 - feat) + (obj - 60) * feat
    image += rng.normal(0, 3, image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def _target_image(fg: np.ndarray, rng: np.random.Generator, feat: np.ndarray | None = None) -> np.ndarray:
    """Thermal-like: warm object bright on a cool background, low resolution, blur, noise, stripes."""
    import cv2

    size = fg.shape[0]
    # faces keep 3/4 of the resolution: their features are a few pixels wide
    low = size // 2 if feat is None else (3 * size) // 4
    fg_low = cv2.resize(fg, (low, low), interpolation=cv2.INTER_AREA)
    background = rng.uniform(40, 75) + cv2.GaussianBlur(rng.normal(0, 6, (low, low)).astype(np.float32), (0, 0), 2)
    obj = rng.uniform(150, 205)
    image = background * (1 - fg_low) + obj * fg_low
    if feat is not None:  # brows (hair), closed lids and lips are cooler than the bare skin
        feat_low = cv2.resize(feat, (low, low), interpolation=cv2.INTER_AREA)
        image = image * (1 - feat_low) + (obj - 75) * feat_low
    image = cv2.resize(image.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    image = cv2.GaussianBlur(image, (0, 0), 0.9 if feat is None else 0.6)
    image += rng.normal(0, 7, (size, size)) + rng.normal(0, 4, (1, size))  # noise + column stripes
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def _shapes(n: int, rng: np.random.Generator, *, target: bool) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(n, dtype=np.int64) % len(SHAPES)
    rng.shuffle(labels)
    render = _target_image if target else _source_image
    frames = np.stack([render(_shape_mask(int(c), rng, SIZE), rng) for c in labels]) if n else np.zeros((0, SIZE, SIZE), np.uint8)
    return frames, labels


def _faces(n: int, rng: np.random.Generator, *, target: bool) -> tuple[np.ndarray, np.ndarray]:
    aus = (rng.random((n, len(ACTION_UNITS))) < 0.4).astype(np.uint8)
    render = _target_image if target else _source_image
    frames = []
    for row in aus:
        skin, feat = _face_mask(row, rng, SIZE)
        frames.append(render(skin, rng, feat))
    return np.stack(frames), aus


def _meta(modality: str, *, multilabel: bool, role: str) -> Meta:
    attrs = {
        "domain": "source" if modality == "rgb" else "target",
        "role": role,
        "rendering": (
            "luminance of a colour rendering: dark object on a light textured background"
            if modality == "rgb"
            else "thermal-like: warm object bright on a cool background, rendered at half "
            "resolution and upsampled, blurred, noise + column stripes"
        ),
    }
    if role == "target_train":
        attrs["labels"] = "none: the target domain is unlabelled for training"
    elif role == "target_test":
        attrs["labels"] = "evaluation only: never train on these"
    return Meta(
        unit="intensity",
        modality=modality,
        class_names=list(ACTION_UNITS if multilabel else SHAPES),
        label_kind="multilabel" if multilabel else "multiclass",
        attrs=attrs,
    )


def generate(*, seed: int = 0, scale: float = 1.0) -> dict[str, Dataset]:
    """The six datasets by file name; ``scale`` multiplies every frame count (at least 12 each)."""
    out: dict[str, Dataset] = {}
    for index, (name, count) in enumerate(COUNTS.items()):
        n = max(12, int(round(count * scale)))
        rng = np.random.default_rng([seed, index])  # one stream per file: files do not shift each other
        multilabel = name.startswith("au_")
        role = name.removeprefix("au_").removesuffix(".h5")
        target = role.startswith("target")
        frames, labels = (_faces if multilabel else _shapes)(n, rng, target=target)
        meta = _meta("thermal" if target else "rgb", multilabel=multilabel, role=role)
        if role == "target_train":
            ds = Dataset(frames=frames, meta=meta, labels=None if multilabel else np.full(n, -1, np.int64))
        else:
            ds = Dataset(frames=frames, meta=meta, labels=labels)
        out[name] = ds
    return out
