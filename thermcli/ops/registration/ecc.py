"""Automatic (intensity-based) multimodal registration: ECC on edge maps, coarse to fine.

``register_ecc(source, target, initial=H0)`` with its settings in one ``EccConfig`` (keyword
arguments of ``register_ecc`` override single fields, as ``register_ecc(..., levels=3)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from thermcli.errors import DataError
from thermcli.ops.registration.homography import apply_homography, image_corners, normalize_homography


@dataclass(frozen=True)
class EccConfig:
    """Settings of ``register_ecc`` (see its docstring for how each is used)."""

    levels: int = 4  # pyramid levels (each halves the size)
    finest_level: int = 0  # > 0 stops at a coarser level (faster, less precise)
    iterations: int = 80  # ECC iterations per level
    eps: float = 1e-6  # ECC convergence threshold
    min_size: int = 32  # a level is used when the target's short side is at least this, px
    sigma: float = 0.8  # Gaussian σ before the edge maps (the target's; also the source's by default)
    source_sigma: float | None = None  # the source's σ, when it differs
    max_move: float = 0.3  # largest plausible move of a level, × the level's size
    search: float = 0.1  # coarse correlation search over shifts up to this × the level's size (0: off)
    starts: int = 4  # ECC starts: the initial guess and starts − 1 best coarse matches
    affine_below: int = 128  # levels whose short side is below this also try an affine fit, px
    select_size: int = 160  # the starts compete down to the first level this large, px
    search_size: int = 96  # the coarse search runs on the first level this large, px
    cross_check: bool = True  # keep a coarse level's result only if the next finer level agrees


BASELINE = EccConfig(search=0, affine_below=0, cross_check=False)  # plain guarded coarse-to-fine ECC


def edge_map(image: np.ndarray, *, sigma: float = 0.8, window: float = 6.0) -> np.ndarray:
    """Modality-independent structure: the gradient magnitude of the smoothed image, divided by
    its local average (a ``window``-pixel Gaussian), so weak and strong edges weigh alike — an
    edge that is faint in one modality and strong in the other still lines up. Standardised.
    ``image``: (H, W[, 3]) any dtype; returns (H, W) float32."""
    import cv2

    image = np.asarray(image)
    if image.ndim == 3:
        image = image.astype(np.float32).mean(axis=2)
    values = image.astype(np.float32)
    finite = np.isfinite(values)
    if not finite.all():
        values = np.where(finite, values, np.nanmedian(values) if finite.any() else 0).astype(np.float32)
    lo, hi = np.percentile(values, [1, 99])
    values = ((values - lo) / max(float(hi - lo), 1e-6)).astype(np.float32)
    if sigma > 0:
        values = cv2.GaussianBlur(values, (0, 0), sigma)
    gx = cv2.Sobel(values, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(values, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.sqrt(gx * gx + gy * gy)
    magnitude = magnitude / (cv2.GaussianBlur(magnitude, (0, 0), window) + 0.05 * float(magnitude.mean()) + 1e-6)
    return ((magnitude - magnitude.mean()) / (magnitude.std() + 1e-6)).astype(np.float32)


def _scaling(s: float) -> np.ndarray:
    """Full-resolution pixel → pixel of the image resized by ``s`` (pixel centres at integers)."""
    return np.array([[s, 0, 0.5 * s - 0.5], [0, s, 0.5 * s - 0.5], [0, 0, 1.0]])


def _scale_homography(h: np.ndarray, source_scale: float, target_scale: float) -> np.ndarray:
    """H between full-resolution images → H between the images resized by the given factors."""
    return _scaling(target_scale) @ h @ np.linalg.inv(_scaling(source_scale))


def _unscale_homography(h_scaled: np.ndarray, source_scale: float, target_scale: float) -> np.ndarray:
    """Inverse of ``_scale_homography``."""
    return np.linalg.inv(_scaling(target_scale)) @ h_scaled @ _scaling(source_scale)


class _Pyramid:
    """The usable levels of a source/target pair (coarse to fine), their edge maps (made on first
    use) and one ECC run per level."""

    def __init__(self, source: np.ndarray, target: np.ndarray, config: EccConfig):
        self.source, self.target, self.config = source, target, config
        s_h, s_w = source.shape[:2]
        t_h, t_w = target.shape[:2]
        self.source_width, self.target_width = s_w, t_w
        self.plan: list[tuple[tuple[int, int], tuple[int, int]]] = []  # (source size, target size) per level
        for level in range(config.levels - 1, config.finest_level - 1, -1):
            scale = 0.5**level
            if min(t_w, t_h) * scale >= config.min_size:
                self.plan.append(((max(1, round(s_w * scale)), max(1, round(s_h * scale))),
                                  (max(1, round(t_w * scale)), max(1, round(t_h * scale)))))
        self._maps: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def edges(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        if i not in self._maps:
            ss, ts = self.plan[i]
            sigma = self.config.sigma
            s_sigma = sigma if self.config.source_sigma is None else self.config.source_sigma
            self._maps[i] = (edge_map(cv2.resize(self.source, ss, interpolation=cv2.INTER_AREA), sigma=s_sigma),
                             edge_map(cv2.resize(self.target, ts, interpolation=cv2.INTER_AREA), sigma=sigma))
        return self._maps[i]

    def scales(self, i: int) -> tuple[float, float]:
        return self.plan[i][0][0] / self.source_width, self.plan[i][1][0] / self.target_width

    def first_at_least(self, size: int) -> int:
        """The first (coarsest) level whose target's short side is ≥ ``size`` (else the finest)."""
        return next((i for i, (_, ts) in enumerate(self.plan) if min(ts) >= size), len(self.plan) - 1)

    def run_level(self, i: int, h: np.ndarray, affine: bool = False) -> tuple[np.ndarray, float] | bool:
        """One ECC run at level i from h (full resolution): the improved ``(h, cc)``; else True
        when ECC converged without improving the fit (h is already at the optimum), False when it
        failed or ran away."""
        import cv2

        src, tgt = self.edges(i)
        ss, ts = self.plan[i]
        s_scale, t_scale = self.scales(i)
        h_level = _scale_homography(h, s_scale, t_scale)
        warp = np.linalg.inv(h_level)  # ECC's warp maps template (target) pixels to input (source) pixels
        warp = (warp / warp[2, 2]).astype(np.float32)
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, self.config.iterations, self.config.eps)
        before = _warped_correlation(src, tgt, warp)
        try:
            if affine:
                cc, new_warp = cv2.findTransformECC(tgt, src, warp[:2].copy(), cv2.MOTION_AFFINE, criteria, None, 1)
                new_warp = np.vstack([new_warp, warp[2:]])
            else:
                cc, new_warp = cv2.findTransformECC(tgt, src, warp.copy(), cv2.MOTION_HOMOGRAPHY, criteria, None, 1)
        except cv2.error:
            return False  # did not converge at this level: keep the previous estimate
        new_h_level = np.linalg.inv(new_warp.astype(np.float64))
        if not np.all(np.isfinite(new_h_level)):
            return False
        # a level may only improve the fit, and only by a plausible move (coarse levels with little
        # structure can run away; the finer levels then start from the previous estimate)
        moved = float(np.max(np.linalg.norm(apply_homography(new_h_level, image_corners(ss)) -
                                            apply_homography(h_level, image_corners(ss)), axis=1)))
        if moved > self.config.max_move * max(ts):
            return False
        if cc <= before:
            return True
        return normalize_homography(_unscale_homography(new_h_level, s_scale, t_scale)), float(cc)

    def correlation_at(self, i: int, h: np.ndarray) -> float:
        src, tgt = self.edges(i)
        warp = np.linalg.inv(_scale_homography(h, *self.scales(i)))
        return _warped_correlation(src, tgt, warp / warp[2, 2])

    def refine(self, h: np.ndarray, first: int, last: int) -> tuple[np.ndarray, float, bool]:
        """Levels ``first``..``last`` from h: (h, ECC correlation of the last accepted level, converged)."""
        correlation, converged = float("nan"), False
        for i in range(first, last + 1):
            runs = [self.run_level(i, h)]
            if min(self.plan[i][1]) < self.config.affine_below:
                runs.append(self.run_level(i, h, affine=True))
            converged |= any(r is not False for r in runs)
            results = [r for r in runs if isinstance(r, tuple)]
            if results and self.config.cross_check and i + 1 < len(self.plan):
                # keep a coarse level's result only if it also fits the next finer level better
                # than where it started (an 8-parameter fit to a tiny edge map can run away)
                scored = [(self.correlation_at(i + 1, r[0]), r) for r in results] + [(self.correlation_at(i + 1, h), None)]
                winner = max(scored, key=lambda x: x[0])[1]
                results = [winner] if winner is not None else []
            elif len(results) > 1:
                results = [max(results, key=lambda r: r[1])]
            if results:
                h, correlation = results[0]
        return h, correlation, converged


def register_ecc(source: np.ndarray, target: np.ndarray, *, initial: np.ndarray | None = None,
                 config: EccConfig | None = None, **overrides: Any) -> tuple[np.ndarray, float]:
    """Automatic multimodal registration: ECC (enhanced correlation coefficient, Evangelidis &
    Psarakis 2008) on edge maps, coarse to fine, from an initial guess.

    ``source`` (e.g. RGB) and ``target`` (e.g. thermal °C) are single frames of any size and
    dtype. Returns ``(H, correlation)`` with H mapping source pixels to target pixels and the
    final correlation coefficient of the edge maps (≈ 0: no shared structure; 1: identical).
    Settings: ``config`` (an ``EccConfig``; its defaults when None), with ``overrides`` naming
    single fields (``levels=3``); an unknown name is a ``TypeError``.

    Robustness (a single ECC run from a poor guess, or on a coarse level with little structure,
    runs away to a wrong optimum — 7 of 32 LLVIP cases did):

    - *several starts*: on the first level whose short side is ≥ ``search_size`` px, the source's
      edge map is warped by the initial guess composed with small rotations (±2°, ±4°) and
      scalings (±4%) about the centre and matched against the target's by normalised
      cross-correlation over shifts of up to ``search`` × the level's size; the initial guess and
      the ``starts`` − 1 best distinct matches each start an ECC run down to the first level whose
      short side is ≥ ``select_size`` px, and the start with the highest correlation there is
      refined on the finer levels (``search=0`` or ``starts=1``: the initial guess only);
    - *cross-checked coarse levels* (``cross_check``): a coarse level's result is kept only if it
      also raises the correlation on the next finer level; levels whose short side is below
      ``affine_below`` px try an affine fit beside the homography and keep the better one there;
    - a level is only accepted when it raises the correlation by a plausible move (≤
      ``max_move`` × the level's size).

    ``BASELINE`` (``search=0, affine_below=0, cross_check=False``) is the plain guarded
    coarse-to-fine ECC (the benchmark's baseline). ``finest_level`` > 0 stops at a coarser level
    (faster, less precise). Raises ``DataError`` when ECC fails or runs away at every level.
    """
    import cv2

    config = replace(config or EccConfig(), **overrides) if overrides else (config or EccConfig())
    t_h, t_w = target.shape[:2]
    h = np.eye(3) if initial is None else normalize_homography(np.asarray(initial, np.float64))
    # bring the source to about the target's pixel size first, so both edge maps have similar widths
    zoom = math.sqrt(abs(np.linalg.det(h[:2, :2]))) if np.all(np.isfinite(h)) else 1.0
    source = _as_float(source)
    if zoom < 0.9:
        pre = (max(1, round(source.shape[1] * zoom)), max(1, round(source.shape[0] * zoom)))
        pre_scale = pre[0] / source.shape[1]
        source = cv2.resize(source, pre, interpolation=cv2.INTER_AREA)
        h = _scale_homography(h, pre_scale, 1.0)
    else:
        pre_scale = 1.0
    pyramid = _Pyramid(source, _as_float(target), config)
    if not pyramid.plan:
        raise DataError(f"automatic registration needs a target of at least {config.min_size} pixels a side, "
                        f"got {t_w}×{t_h}")
    last = len(pyramid.plan) - 1
    select = pyramid.first_at_least(config.select_size)
    candidates = [h]
    if config.search > 0 and config.starts > 1:
        k = min(select, pyramid.first_at_least(config.search_size))
        coarse = _coarse_starts(*pyramid.edges(k), _scale_homography(h, *pyramid.scales(k)), config.search,
                                config.starts - 1)
        candidates += [normalize_homography(_unscale_homography(c, *pyramid.scales(k))) for c in coarse]
    # every start runs down to the selection level; the best fit there is refined further
    runs = [pyramid.refine(start, 0, select) for start in candidates]
    scores = [pyramid.correlation_at(select, r[0]) if r[2] else -np.inf for r in runs]
    h, correlation, converged = runs[int(np.argmax(scores))]
    if select < last:
        h, fine_correlation, fine_converged = pyramid.refine(h, select + 1, last)
        converged |= fine_converged
        correlation = fine_correlation if np.isfinite(fine_correlation) else correlation
    if not converged:
        raise DataError("automatic registration did not converge (too little shared structure, or a poor initial guess)")
    if not np.isfinite(correlation):
        correlation = pyramid.correlation_at(last, h)
    h = normalize_homography(_scale_homography(h, 1.0 / pre_scale, 1.0)) if pre_scale != 1.0 else h
    return h, float(correlation)


def _coarse_starts(source: np.ndarray, target: np.ndarray, h: np.ndarray, search: float, count: int,
                   angles: Sequence[float] = (-4.0, -2.0, 0.0, 2.0, 4.0),
                   scales: Sequence[float] = (0.96, 1.0, 1.04)) -> list[np.ndarray]:
    """Up to ``count`` homographies ``T(d) · S · h`` that best line up the edge map ``source``
    (warped by them) with ``target``, by normalised cross-correlation: ``S`` a small rotation
    (``angles``, degrees) and scaling (``scales``) about the target's centre, ``d`` a shift of at
    most ``search`` × the target's size. Distinct peaks, best first; the initial ``h`` itself is
    not among them, nor any whose target corners come within ``search``/4 of its or each other's."""
    import cv2

    th, tw = target.shape
    m = max(1, int(round(search * max(tw, th))))
    cx, cy = (tw - 1) / 2, (th - 1) / 2
    radius = max(1, m // 4)
    peaks = []  # (score, homography)
    for angle in angles:
        for scale in scales:
            a = math.radians(angle)
            c, s = scale * math.cos(a), scale * math.sin(a)
            similar = np.array([[c, -s, cx - c * cx + s * cy], [s, c, cy - s * cx - c * cy], [0, 0, 1.0]])
            base = similar @ h
            shift = np.array([[1, 0, m], [0, 1, m], [0, 0, 1.0]])
            canvas = cv2.warpPerspective(source, shift @ base, (tw + 2 * m, th + 2 * m), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            scores = cv2.matchTemplate(canvas.astype(np.float32), target.astype(np.float32), cv2.TM_CCOEFF_NORMED)
            for _ in range(count):
                _, value, _, (px, py) = cv2.minMaxLoc(scores)
                if not np.isfinite(value) or value <= -1:
                    break
                # target content at v sits at v + d in the source warped by ``base``
                dx, dy = px - m, py - m
                if dx or dy or angle or scale != 1.0:
                    peaks.append((float(value), np.array([[1, 0, -dx], [0, 1, -dy], [0, 0, 1.0]]) @ base))
                scores[max(0, py - radius):py + radius + 1, max(0, px - radius):px + radius + 1] = -2
    peaks.sort(key=lambda p: -p[0])
    corners = image_corners((tw, th))
    kept = [apply_homography(np.linalg.inv(h), corners)]  # the initial guess starts anyway
    out: list[np.ndarray] = []
    for _, candidate in peaks:
        mapped = apply_homography(np.linalg.inv(candidate), corners)
        if all(np.max(np.linalg.norm(mapped - other, axis=1)) > radius for other in kept):
            kept.append(mapped)
            out.append(candidate)
        if len(out) == count:
            break
    return out


def _warped_correlation(source: np.ndarray, target: np.ndarray, warp: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Correlation coefficient of ``target`` and ``source`` warped onto it (ECC's objective)."""
    import cv2

    th, tw = target.shape
    warped = cv2.warpPerspective(source, warp.astype(np.float32), (tw, th), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=float("nan"))
    valid = np.isfinite(warped) if mask is None else np.isfinite(warped) & (mask > 0)
    if valid.sum() < 16:
        return -1.0
    a, b = warped[valid] - warped[valid].mean(), target[valid] - target[valid].mean()
    return float((a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) + 1e-12))


def _as_float(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3:
        image = image.astype(np.float32).mean(axis=2)
    out = image.astype(np.float32)
    if not np.isfinite(out).all():
        out = np.where(np.isfinite(out), out, np.nanmedian(out)).astype(np.float32)
    return out
