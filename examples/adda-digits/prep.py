"""Build thermcli datasets for the ADDA digits protocol (Tzeng et al. 2017, Table 2) from
../shared/data/digits: 2,000 MNIST and 1,800 USPS training images sampled (seeded, stratified
by nothing: a uniform sample, as the paper), the full test sets (MNIST 10,000; USPS 2,007), all
28×28 uint8 (USPS 16×16 in 0..1 upsampled bilinearly). Also ``*_heldout.h5``: training images
NOT sampled (MNIST 3,000 of the 5,000; USPS 2,000 of the other 5,491), labelled, for choosing
settings on held-out target data instead of the test sets.

    python prep.py DIGITS_DIR OUT_DIR [--seed 0]
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import numpy as np

from thermcli.io import Dataset, Meta, make_provenance, write_dataset

CLASSES = [str(d) for d in range(10)]


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _usps(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    import cv2
    import h5py

    with h5py.File(path, "r") as fh:
        data = fh[f"{split}/data"][:].reshape(-1, 16, 16)
        labels = fh[f"{split}/target"][:].astype(np.int64)
    frames = np.stack([cv2.resize(f, (28, 28), interpolation=cv2.INTER_LINEAR) for f in data])
    return np.clip(np.round(frames * 255), 0, 255).astype(np.uint8), labels


def _write(path: Path, frames: np.ndarray, labels: np.ndarray, domain: str, inputs: list[Path], seed: int) -> None:
    meta = Meta(unit="intensity", modality="rgb", class_names=CLASSES, attrs={"domain": domain, "protocol": "ADDA digits"})
    meta.provenance = make_provenance("examples/adda-digits/prep.py", {"out": str(path)}, inputs=inputs, seed=seed)
    write_dataset(path, Dataset(frames=frames, meta=meta, labels=labels), force=True)
    print(f"{path}: {len(frames)} frames {frames.shape[1:]} classes {np.bincount(labels, minlength=10).tolist()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("digits", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    mnist_csv = args.digits / "mnist" / "mnist_5k.csv.gz"
    table = np.loadtxt(mnist_csv, delimiter=",", dtype=np.int64)
    pick = rng.choice(len(table), 2000, replace=False)
    _write(args.out / "mnist_train.h5", table[pick, :784].reshape(-1, 28, 28).astype(np.uint8), table[pick, 784], "MNIST", [mnist_csv], args.seed)
    rest = np.setdiff1d(np.arange(len(table)), pick)
    _write(args.out / "mnist_heldout.h5", table[rest, :784].reshape(-1, 28, 28).astype(np.uint8), table[rest, 784], "MNIST", [mnist_csv], args.seed)
    images, labels = args.digits / "mnist" / "t10k-images-idx3-ubyte.gz", args.digits / "mnist" / "t10k-labels-idx1-ubyte.gz"
    _write(args.out / "mnist_test.h5", _idx(images), _idx(labels).astype(np.int64), "MNIST", [images, labels], args.seed)
    usps = args.digits / "usps" / "usps.h5"
    frames, labels = _usps(usps, "train")
    pick = rng.choice(len(frames), 1800, replace=False)
    _write(args.out / "usps_train.h5", frames[pick], labels[pick], "USPS", [usps], args.seed)
    rest = np.setdiff1d(np.arange(len(frames)), pick)[:2000]
    _write(args.out / "usps_heldout.h5", frames[rest], labels[rest], "USPS", [usps], args.seed)
    frames, labels = _usps(usps, "test")
    _write(args.out / "usps_test.h5", frames, labels, "USPS", [usps], args.seed)


if __name__ == "__main__":
    main()
