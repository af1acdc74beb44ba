"""Reading one plain image file (PNG, JPEG, TIFF, BMP) as the library stores frames."""

from __future__ import annotations

import os

import numpy as np

from thermcli.errors import DataError


def read_image(path: str | os.PathLike) -> np.ndarray:
    """The image's pixels as stored: (H, W) grey or (H, W, 3) RGB (an alpha channel dropped),
    its own dtype (uint8, uint16, float32); ``DataError`` naming the file when it is unreadable."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DataError("cannot read image (truncated or not an image)", path=str(path))
    if image.ndim == 3:
        if image.shape[2] == 4:
            image = image[:, :, :3]
        image = np.ascontiguousarray(image[:, :, ::-1])  # BGR → RGB
        if image.shape[2] == 1:
            image = image[:, :, 0]
    return image
