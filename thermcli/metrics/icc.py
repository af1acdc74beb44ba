"""Intraclass correlation (Shrout & Fleiss 1979): how reproducible a measurement is between
raters — here between repeated sessions of the same subjects.

Data: an (n targets × k raters) matrix. Mean squares of the ANOVA: BMS (between targets), JMS
(between raters/judges), WMS (within targets), EMS (residual). Forms:

==========  =======================================================  ==========================
form        model                                                    formula
==========  =======================================================  ==========================
ICC(1,1)    one-way random: each target rated by different raters    (BMS−WMS)/(BMS+(k−1)WMS)
ICC(2,1)    two-way random, absolute agreement                       (BMS−EMS)/(BMS+(k−1)EMS+k(JMS−EMS)/n)
ICC(3,1)    two-way mixed, consistency (fixed raters)                (BMS−EMS)/(BMS+(k−1)EMS)
ICC(1,k)    mean of k raters, one-way                                (BMS−WMS)/BMS
ICC(2,k)    mean of k raters, two-way random                         (BMS−EMS)/(BMS+(JMS−EMS)/n)
ICC(3,k)    mean of k raters, two-way mixed                          (BMS−EMS)/BMS
==========  =======================================================  ==========================

For test–retest reliability of a physiological measurement (sessions as raters) ICC(2,1),
absolute agreement of single measurements, is the usual choice (Koo & Li 2016) and the default.

>>> import numpy as np
>>> table2 = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8],
...                    [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)
>>> round(icc(table2, "2,1")["icc"], 2)   # Shrout & Fleiss 1979 (Table 2 data) report .29
0.29
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

FORMS = ("1,1", "2,1", "3,1", "1,k", "2,k", "3,k")
FORM_DESCRIPTIONS = {
    "1,1": "ICC(1,1): one-way random effects, single measurement",
    "2,1": "ICC(2,1): two-way random effects, absolute agreement, single measurement",
    "3,1": "ICC(3,1): two-way mixed effects, consistency, single measurement",
    "1,k": "ICC(1,k): one-way random effects, mean of k measurements",
    "2,k": "ICC(2,k): two-way random effects, absolute agreement, mean of k measurements",
    "3,k": "ICC(3,k): two-way mixed effects, consistency, mean of k measurements",
}


def normalize_form(form: str) -> str:
    """``"ICC(2,1)"``, ``"2,1"``, ``"2"`` → ``"2,1"``; ``"ICC3k"``/``"3,k"`` → ``"3,k"``."""
    text = str(form).upper().replace("ICC", "").replace("(", "").replace(")", "").replace(" ", "")
    text = text.replace(",", "")
    if text in ("1", "2", "3"):
        text += "1"
    if len(text) == 2 and text[0] in "123" and text[1] in "1K":
        return f"{text[0]},{text[1].lower()}"
    raise ValueError(f"unknown ICC form {form!r}; choose from {', '.join(FORMS)}")


def mean_squares(ratings: np.ndarray) -> dict[str, float]:
    """ANOVA mean squares of an (n targets × k raters) matrix without missing values."""
    y = np.asarray(ratings, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"ratings must be (targets, raters), got shape {y.shape}")
    n, k = y.shape
    if n < 2 or k < 2:
        raise ValueError(f"ICC needs at least 2 targets and 2 raters, got {n} × {k}")
    if not np.isfinite(y).all():
        raise ValueError("ratings hold NaN or infinite values")
    grand = y.mean()
    row_means = y.mean(axis=1)
    col_means = y.mean(axis=0)
    ss_total = float(((y - grand) ** 2).sum())
    ss_rows = float(k * ((row_means - grand) ** 2).sum())
    ss_cols = float(n * ((col_means - grand) ** 2).sum())
    ss_within = ss_total - ss_rows
    ss_error = ss_total - ss_rows - ss_cols
    return {
        "BMS": ss_rows / (n - 1),
        "JMS": ss_cols / (k - 1),
        "WMS": ss_within / (n * (k - 1)),
        "EMS": ss_error / ((n - 1) * (k - 1)),
        "n": float(n),
        "k": float(k),
    }


def icc(ratings: np.ndarray, form: str = "2,1") -> dict[str, Any]:
    """The intraclass correlation of ``ratings`` (n targets × k raters) in Shrout & Fleiss form
    ``form`` (see the module table). Returns {"form", "description", "icc", "n_targets",
    "n_raters", and the mean squares}. NaN when the denominator is 0 (no variance at all)."""
    form = normalize_form(form)
    ms = mean_squares(ratings)
    bms, jms, wms, ems, n, k = (ms[key] for key in ("BMS", "JMS", "WMS", "EMS", "n", "k"))
    numerator, denominator = {
        "1,1": (bms - wms, bms + (k - 1) * wms),
        "2,1": (bms - ems, bms + (k - 1) * ems + k * (jms - ems) / n),
        "3,1": (bms - ems, bms + (k - 1) * ems),
        "1,k": (bms - wms, bms),
        "2,k": (bms - ems, bms + (jms - ems) / n),
        "3,k": (bms - ems, bms),
    }[form]
    value = numerator / denominator if denominator != 0 else math.nan
    return {
        "form": f"ICC({form})",
        "description": FORM_DESCRIPTIONS[form],
        "icc": float(value),
        "n_targets": int(n),
        "n_raters": int(k),
        "mean_squares": {key: ms[key] for key in ("BMS", "JMS", "WMS", "EMS")},
    }


def ratings_matrix(
    targets: Sequence[Any], raters: Sequence[Any], values: Sequence[float]
) -> tuple[np.ndarray, list[str], list[str], list[str]]:
    """Long rows (target, rater, value) → the (targets × raters) matrix.

    Targets missing a rater (or with a NaN value) are dropped — listwise deletion, as the
    ANOVA needs a complete matrix; their names are returned so the caller can warn.
    A (target, rater) pair given twice raises ValueError.
    Returns (matrix, target names kept, rater names, target names dropped).
    """
    target_names = sorted({str(t) for t in targets})
    rater_names = sorted({str(r) for r in raters})
    t_index = {t: i for i, t in enumerate(target_names)}
    r_index = {r: j for j, r in enumerate(rater_names)}
    matrix = np.full((len(target_names), len(rater_names)), np.nan)
    seen = np.zeros(matrix.shape, bool)
    for t, r, v in zip(targets, raters, values):
        i, j = t_index[str(t)], r_index[str(r)]
        if seen[i, j]:
            raise ValueError(f"target {t!r} has two values for rater {r!r}")
        seen[i, j] = True
        matrix[i, j] = float(v)
    complete = np.isfinite(matrix).all(axis=1)
    dropped = [t for t, ok in zip(target_names, complete) if not ok]
    kept = [t for t, ok in zip(target_names, complete) if ok]
    return matrix[complete], kept, rater_names, dropped
