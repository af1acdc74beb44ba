"""Synthetic RGB + thermal pairs with a known RGB→thermal homography (tests and bench/)."""

from __future__ import annotations

import numpy as np

RGB_SIZE = (320, 240)
THERMAL_SIZE = (160, 120)
SS = 4  # supersampling of the renders


def nominal_homography() -> np.ndarray:
    """The rig's nominal RGB→thermal map: half size (pixel centres at integers)."""
    s = THERMAL_SIZE[0] / RGB_SIZE[0]
    return np.array([[s, 0, 0.5 * s - 0.5], [0, s, 0.5 * s - 0.5], [0, 0, 1.0]])


def true_homography(rng: np.random.Generator, max_shift: float = 6.0) -> np.ndarray:
    """The nominal map with each thermal corner moved by up to ``max_shift`` thermal pixels."""
    import cv2

    from thermcli.ops.registration import apply_homography, image_corners

    corners = image_corners(RGB_SIZE)
    moved = apply_homography(nominal_homography(), corners) + rng.uniform(-max_shift, max_shift, (4, 2))
    h = cv2.getPerspectiveTransform(corners.astype(np.float32), moved.astype(np.float32)).astype(np.float64)
    return h / h[2, 2]


def _render_thermal(scene_hr: np.ndarray, h_true: np.ndarray, blur: float, rng, noise: float) -> np.ndarray:
    """Warp a supersampled RGB-geometry thermal scene into the thermal camera, area-averaged."""
    import cv2

    # supersampled thermal pixel → RGB supersampled pixel: S_rgb · H⁻¹ · S_th⁻¹
    def scaling(s):
        return np.array([[s, 0, 0.5 * s - 0.5], [0, s, 0.5 * s - 0.5], [0, 0, 1.0]])

    m = scaling(SS) @ np.linalg.inv(h_true) @ np.linalg.inv(scaling(SS))
    tw, th = THERMAL_SIZE
    hr = cv2.warpPerspective(scene_hr.astype(np.float32), m, (tw * SS, th * SS),
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)
    low = cv2.resize(hr, (tw, th), interpolation=cv2.INTER_AREA)
    if blur:
        low = cv2.GaussianBlur(low, (0, 0), blur)
    return (low + rng.normal(0, noise, low.shape)).astype(np.float32)


def chessboard_pair(rng: np.random.Generator, h_true: np.ndarray, squares=(7, 6)):
    """A chessboard seen by both cameras: RGB dark-on-light, thermal light-on-dark (heated board).

    Returns (rgb uint8 (240, 320, 3), thermal float32 °C (120, 160))."""
    import cv2

    w, h = RGB_SIZE
    cols, rows = squares
    side = rng.uniform(22, 28)  # RGB pixels per square
    board_w, board_h = cols * side, rows * side
    cx, cy = w / 2 + rng.uniform(-25, 25), h / 2 + rng.uniform(-15, 15)
    # board plane → RGB pixels: a mild random perspective
    src = np.array([[0, 0], [cols, 0], [cols, rows], [0, rows]], np.float32)
    dst = np.array([[cx - board_w / 2, cy - board_h / 2], [cx + board_w / 2, cy - board_h / 2],
                    [cx + board_w / 2, cy + board_h / 2], [cx - board_w / 2, cy + board_h / 2]])
    dst = (dst + rng.uniform(-8, 8, dst.shape)).astype(np.float32)
    plane_to_rgb = cv2.getPerspectiveTransform(src, dst)
    yy, xx = np.mgrid[0 : h * SS, 0 : w * SS]
    pix = np.stack([(xx + 0.5) / SS - 0.5, (yy + 0.5) / SS - 0.5, np.ones_like(xx, float)], axis=-1)
    plane = pix @ np.linalg.inv(plane_to_rgb).T
    u, v = plane[..., 0] / plane[..., 2], plane[..., 1] / plane[..., 2]
    margin = 0.6
    on_board = (u >= -margin) & (u <= cols + margin) & (v >= -margin) & (v <= rows + margin)
    inside = (u >= 0) & (u < cols) & (v >= 0) & (v < rows)
    dark = inside & ((np.floor(u).astype(int) + np.floor(v).astype(int)) % 2 == 0)
    # RGB: dark squares on a white board, textured wall behind
    wall = 140 + 30 * np.sin(xx / 37.0) * np.cos(yy / 53.0)
    grey = np.where(on_board, np.where(dark, 25.0, 225.0), wall)
    rgb_hr = np.stack([grey * 0.95, grey, grey * 1.05], axis=-1)
    rgb = cv2.resize(rgb_hr.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    rgb = np.clip(rgb + rng.normal(0, 2.0, rgb.shape), 0, 255).astype(np.uint8)
    # thermal: the heated board's dark (absorbing) squares are the warm ones → light-on-dark
    temp_hr = np.where(on_board, np.where(dark, 24.0, 38.0), 22.0 + 0.3 * np.sin(xx / 41.0))
    thermal = _render_thermal(temp_hr, h_true, blur=0.7, rng=rng, noise=0.08)
    return rgb, thermal


def scene_pair(rng: np.random.Generator, h_true: np.ndarray, shapes: int = 14):
    """A scene of objects that differ in colour (RGB) and in temperature (thermal), with no
    consistent relation between the two (some dark objects are warm, some light ones cold).

    Returns (rgb uint8 (240, 320, 3), thermal float32 °C (120, 160))."""
    import cv2

    w, h = RGB_SIZE
    labels = np.zeros((h * SS, w * SS), np.int32)
    for k in range(1, shapes + 1):
        kind = rng.integers(3)
        x, y = rng.uniform(0, w) * SS, rng.uniform(0, h) * SS
        size = rng.uniform(12, 60) * SS
        if kind == 0:
            cv2.rectangle(labels, (int(x), int(y)), (int(x + size), int(y + size * rng.uniform(0.5, 2))), int(k), -1)
        elif kind == 1:
            cv2.ellipse(labels, (int(x), int(y)), (int(size / 2), int(size / 3)), float(rng.uniform(0, 180)), 0, 360, int(k), -1)
        else:
            x2, y2 = x + rng.uniform(-1, 1) * size * 2, y + rng.uniform(-1, 1) * size * 2
            cv2.line(labels, (int(x), int(y)), (int(x2), int(y2)), int(k), int(rng.uniform(3, 8) * SS))
    colours = rng.uniform(20, 235, (shapes + 1, 3))
    temps = rng.uniform(19, 36, shapes + 1)
    yy, xx = np.mgrid[0 : h * SS, 0 : w * SS]
    texture = 12 * np.sin(xx / 9.0 + yy / 23.0)
    rgb_hr = colours[labels] + texture[..., None]
    rgb = cv2.resize(rgb_hr.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    rgb = np.clip(rgb + rng.normal(0, 2.0, rgb.shape), 0, 255).astype(np.uint8)
    temp_hr = temps[labels] + 0.4 * np.sin(yy / 60.0)
    thermal = _render_thermal(temp_hr, h_true, blur=1.0, rng=rng, noise=0.08)
    return rgb, thermal


# ---- LLVIP: registered real pairs, one side warped by a known homography --------------------

LLVIP_DOWN = 2  # the 1280×1024 pairs are registered at 640×512
LLVIP_MAX_SHIFT = 0.04  # corner moves of the random warp, as a fraction of the width


def llvip_warped_pairs(root, *, max_shift: float = LLVIP_MAX_SHIFT, seed: int = 0, limit: int | None = None):
    """The LLVIP pairs under ``root`` (``llvip-pairs/``) at 1/``LLVIP_DOWN`` size, the visible side
    warped by a random known homography G.

    G moves each corner of the visible frame independently, uniformly within ±``max_shift`` × the
    width (default 4%: ±25.6 px at 640×512, ±51 px at full resolution) — shifts, rotations of a
    few degrees, scale changes of a few percent and mild perspective, the range between a
    two-camera rig's nominal geometry and its real one. The thermal side is cropped by 10% on
    each side (the visible camera sees more, as an RGB camera beside a thermal one usually does),
    and the initial guess is that crop's translation (where the pair would be without G).

    Yields ``(name, visible, warped visible, thermal crop, initial guess, G)``; images as read
    (visible RGB uint8, thermal grey uint8)."""
    import glob

    import cv2

    from thermcli.ops.registration import random_homography

    files = sorted(glob.glob(str(root / "llvip-pairs" / "Train_LLVIP_ir" / "*.jpg")))[:limit]
    rng = np.random.default_rng(seed)
    for path in files:
        ir = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        vi = cv2.imread(path.replace("_ir", "_vi"))[..., ::-1]
        h0, w0 = ir.shape
        w, h = w0 // LLVIP_DOWN, h0 // LLVIP_DOWN
        ir = cv2.resize(ir, (w, h), interpolation=cv2.INTER_AREA)
        vi = np.ascontiguousarray(cv2.resize(vi, (w, h), interpolation=cv2.INTER_AREA))
        g = random_homography(rng, (w, h), max_shift=max_shift * w)
        warped = cv2.warpPerspective(vi, g, (w, h), borderMode=cv2.BORDER_REFLECT)
        mx, my = w // 10, h // 10
        crop = np.array([[1, 0, -mx], [0, 1, -my], [0, 0, 1.0]])
        yield path.rsplit("/", 1)[-1], vi, warped, ir[my:-my, mx:-mx], crop, g


def llvip_recovery(root, *, max_shift: float = LLVIP_MAX_SHIFT, seed: int = 0, limit: int | None = None,
                   **ecc) -> dict[str, np.ndarray]:
    """Automatic registration on :func:`llvip_warped_pairs`, errors in full-resolution pixels
    (mean corner error of the visible frame; ∞ where ECC did not converge):

    - ``relative``: the estimate on the warped pair against the method's own estimate on the
      unwarped pair composed with G⁻¹ — how well the known warp is recovered;
    - ``absolute``: against the dataset's registration composed with G⁻¹ (``own``: the estimate on
      the unwarped pair against the dataset's registration) — a relative error is only meaningful
      where these are near the ~15 px offset every pair shows (both runs could land on the same
      wrong optimum);
    - ``initial``: the initial guess against the dataset's registration composed with G⁻¹.
    ``ecc``: keyword arguments for ``register_ecc`` (``levels`` defaults to 5)."""
    from thermcli.errors import DataError
    from thermcli.ops.registration import corner_error, register_ecc

    ecc = {"levels": 5, **ecc}
    out = {"relative": [], "absolute": [], "own": [], "initial": []}
    for _, vi, warped, target, crop, g in llvip_warped_pairs(root, max_shift=max_shift, seed=seed, limit=limit):
        size = (vi.shape[1], vi.shape[0])
        truth = crop @ np.linalg.inv(g)
        out["initial"].append(LLVIP_DOWN * corner_error(crop, truth, size))
        try:
            own, _ = register_ecc(vi, target, initial=crop, **ecc)
            est, _ = register_ecc(warped, target, initial=crop, **ecc)
        except DataError:
            for key in ("relative", "absolute", "own"):
                out[key].append(np.inf)
            continue
        out["relative"].append(LLVIP_DOWN * corner_error(est, own @ np.linalg.inv(g), size))
        out["own"].append(LLVIP_DOWN * corner_error(own, crop, size))
        out["absolute"].append(LLVIP_DOWN * corner_error(est, truth, size))
    return {k: np.array(v) for k, v in out.items()}
