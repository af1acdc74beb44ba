"""Accuracy of ``thermcli align``: corner error of recovered homographies on synthetic pairs
(target-based and automatic) and on the registered LLVIP pairs, the real checkerboard pair's
reprojection error (and the overlay picture docs/img/align_overlay.png), and the thermal person
finder's box recall. Each number is printed next to its baseline (the initial guess's error)."""

from __future__ import annotations

import glob
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"


def synthetic(n: int = 30) -> dict[str, float]:
    from tests.ops import _cases as cases
    from thermcli.ops.registration import corner_error, estimate_homography, find_target, register_ecc

    rng = np.random.default_rng(100)
    target, auto, initial = [], [], []
    for _ in range(n):
        h = cases.true_homography(rng)
        initial.append(corner_error(cases.nominal_homography(), h, cases.RGB_SIZE))
        rgb, thermal = cases.chessboard_pair(rng, h)
        a, _ = find_target(rgb, (6, 5))
        b, _ = find_target(thermal, (6, 5))
        target.append(corner_error(estimate_homography(a, b)[0], h, cases.RGB_SIZE) if a is not None and b is not None else np.inf)
        rgb, thermal = cases.scene_pair(rng, h)
        auto.append(corner_error(register_ecc(rgb, thermal, initial=cases.nominal_homography(), levels=3)[0], h, cases.RGB_SIZE))
    target, auto, initial = map(np.array, (target, auto, initial))
    print(f"synthetic pairs ({n}, RGB 320x240 -> thermal 160x120, corner error in thermal px; initial guess "
          f"mean {initial.mean():.2f} px)")
    print(f"  target-based: mean {target.mean():.3f}, median {np.median(target):.3f}, max {target.max():.3f}; "
          f"< 1 px in {np.mean(target < 1):.0%} of cases; {initial.mean() / target.mean():.0f}x below the initial error")
    print(f"  automatic   : mean {auto.mean():.3f}, median {np.median(auto):.3f}, max {auto.max():.3f}; "
          f"< 2 px in {np.mean(auto < 2):.0%} of cases; {initial.mean() / auto.mean():.1f}x below the initial error")
    return {"target_mean_px": float(target.mean()), "target_frac_lt1": float(np.mean(target < 1)),
            "auto_mean_px": float(auto.mean()), "auto_frac_lt2": float(np.mean(auto < 2))}


def llvip(down: int = 2) -> dict[str, float]:
    import cv2

    from thermcli.errors import DataError
    from thermcli.ops.registration import corner_error, random_homography, register_ecc

    files = sorted(glob.glob(str(SHARED / "llvip-pairs" / "Train_LLVIP_ir" / "*.jpg")))
    if not files:
        print("llvip-pairs: not present, skipped")
        return {}
    rng = np.random.default_rng(0)
    absolute, relative, initial = [], [], []
    start = time.perf_counter()
    for path in files:
        ir = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        vi = cv2.imread(path.replace("_ir", "_vi"))[..., ::-1]
        h0, w0 = ir.shape
        w, h = w0 // down, h0 // down
        ir = cv2.resize(ir, (w, h), interpolation=cv2.INTER_AREA)
        vi = cv2.resize(vi, (w, h), interpolation=cv2.INTER_AREA)
        g = random_homography(rng, (w, h), max_shift=0.04 * w)
        source = cv2.warpPerspective(vi, g, (w, h), borderMode=cv2.BORDER_REFLECT)
        mx, my = w // 10, h // 10
        crop = np.array([[1, 0, -mx], [0, 1, -my], [0, 0, 1.0]])
        target = ir[my:-my, mx:-mx]
        truth = crop @ np.linalg.inv(g)
        initial.append(down * corner_error(crop, truth, (w, h)))
        try:
            own, _ = register_ecc(vi, target, initial=crop, levels=5)
            est, _ = register_ecc(source, target, initial=crop, levels=5)
        except DataError:  # did not converge: counts as a failure
            absolute.append(np.inf)
            relative.append(np.inf)
            continue
        absolute.append(down * corner_error(est, truth, (w, h)))
        relative.append(down * corner_error(est, own @ np.linalg.inv(g), (w, h)))
    absolute, relative, initial = map(np.array, (absolute, relative, initial))
    print(f"LLVIP ({len(files)} pairs at 1/{down} size, visible warped by a random homography with corners moved up to "
          f"4% of the width, thermal cropped by 10%; errors in full-resolution pixels; {time.perf_counter() - start:.0f} s)")
    print(f"  initial guess          : mean {initial.mean():.1f} px")
    print(f"  vs LLVIP's registration: median {np.median(absolute):.1f} px; "
          f"< 2 px in {np.mean(absolute < 2):.0%}")
    print(f"  vs the unwarped pair's own estimate (recovery of the known warp): median "
          f"{np.median(relative):.2f} px; < 2 px in {np.mean(relative < 2):.0%}")
    return {"llvip_abs_median_px": float(np.median(absolute)), "llvip_rel_frac_lt2": float(np.mean(relative < 2))}


def checkerboard() -> dict[str, float]:
    import cv2

    from thermcli.stages.align import PairGeometry, calibrate

    folder = SHARED / "rgbt-calib-pair" / "example_input"
    if not folder.is_dir():
        print("rgbt-calib-pair: not present, skipped")
        return {}
    plain = calibrate(folder, pattern=(6, 5))
    undistorted = calibrate(folder, pattern=(6, 5), undistort=True)
    for name, t in (("raw corners", plain), ("undistorted", undistorted)):
        r = t.details["reprojection"]
        print(f"real checkerboard pair ({name}): reprojection RMS {r['rms_px']:.3f} px, max {r['max_px']:.3f} px "
              f"over {r['points']} corners ({r['inliers']} RANSAC inliers)")
    # overlay: thermal edges (warped into the RGB geometry, both undistorted) over the RGB image
    rgb = cv2.imread(str(folder / "rgb0000.jpg"))[..., ::-1]
    thermal = cv2.imread(str(folder / "thermal0000.jpg"), cv2.IMREAD_GRAYSCALE).astype(np.float32)
    geometry = PairGeometry(undistorted, (640, 480), (640, 512), reverse=True)
    warped = geometry.frames("thermal", thermal[None])[0]
    rgb_u = geometry.frames("rgb", rgb[None])[0]
    valid = np.isfinite(warped)
    w8 = np.clip(np.where(valid, warped, 0), 0, 255).astype(np.uint8)
    edges = cv2.Canny(cv2.GaussianBlur(w8, (0, 0), 1.5), 40, 90) > 0
    edges &= cv2.erode(valid.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    overlay = (rgb_u.astype(np.float32) * 0.8).astype(np.uint8)
    overlay[edges] = (0, 255, 80)
    overlay[~valid] = (overlay[~valid] * 0.5).astype(np.uint8)
    picture = cv2.resize(overlay, (480, 360), interpolation=cv2.INTER_AREA)
    out = ROOT / "docs" / "img" / "align_overlay.png"
    cv2.imwrite(str(out), picture[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"  wrote {out.relative_to(ROOT)} ({out.stat().st_size / 1024:.0f} KB)")
    return {"checker_rms_px": plain.error_px, "checker_rms_undistorted_px": undistorted.error_px}


def person_finder() -> dict[str, float]:
    import cv2

    from thermcli.io import read_dataset
    from thermcli.ops.person_finder import box_recall, find_people, pseudocolour_intensity

    thermal = read_dataset(ROOT / "sample_data" / "tug" / "thermal.h5")
    m, n = box_recall([find_people(f) for f in thermal.frames], list(thermal.boxes[:, 0]), iou=0.5)
    print(f"person finder on sample_data/tug (°C band 25–42): box recall @IoU0.5 {m}/{n} = {m / n:.3f}")
    root = SHARED / "thermal-people"
    if not root.is_dir():
        return {"tug_recall": m / n}
    found, truth, images = [], [], 0
    for image_path in sorted(root.glob("*/images/*.jpg")):
        label = image_path.parent.parent / "labels" / (image_path.stem + ".txt")
        rows = [line.split() for line in label.read_text().splitlines() if line.strip()] if label.exists() else []
        image = cv2.imread(str(image_path))[..., ::-1]
        h, w = image.shape[:2]
        truth.append(np.array([[(float(r[1]) - float(r[3]) / 2) * w, (float(r[2]) - float(r[4]) / 2) * h,
                                float(r[3]) * w, float(r[4]) * h] for r in rows if r[0] == "1"]).reshape(-1, 4))
        found.append(find_people(pseudocolour_intensity(image), relative=True, min_area=0.0005, min_height=0.04,
                                 max_aspect=1.2))
        images += 1
    m5, n5 = box_recall(found, truth, iou=0.5)
    m3, _ = box_recall(found, truth, iou=0.3)
    boxes = sum(len(f) for f in found)
    print(f"person finder on thermal-people ({images} pseudo-colour images, {n5} person boxes; relative mode): "
          f"recall @IoU0.5 {m5 / n5:.3f}, @IoU0.3 {m3 / n5:.3f}; {boxes} boxes found ({boxes / images:.1f} an image; "
          f"dogs and hot ground count as false people)")
    return {"tug_recall": m / n, "thermal_people_recall": m5 / n5}


def main() -> dict[str, float]:
    import cv2

    cv2.setNumThreads(1)
    results = {}
    for part in (synthetic, checkerboard, person_finder, llvip):
        results.update(part())
    return results


if __name__ == "__main__":
    main()
