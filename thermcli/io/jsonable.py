"""One JSON sanitiser for everything the library writes as JSON (provenance, reports, summaries)."""

from __future__ import annotations

import math
from pathlib import PurePath
from typing import Any


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: dict keys as text, tuples as lists, paths as text, NumPy and
    torch scalars and arrays as numbers and lists, enums as their values, NaN and ±inf as None
    (JSON has no such numbers); anything else as its text.

    >>> import numpy as np
    >>> jsonable({1: (np.float32(0.5), np.int64(3)), "x": [float("nan"), np.arange(2)]})
    {'1': [0.5, 3], 'x': [None, [0, 1]]}
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if hasattr(value, "item") and callable(value.item) and getattr(value, "shape", None) == ():
        return jsonable(value.item())
    if hasattr(value, "tolist"):
        return jsonable(value.tolist())
    if hasattr(value, "value") and hasattr(value, "name"):  # enums
        return jsonable(value.value)
    return str(value)
