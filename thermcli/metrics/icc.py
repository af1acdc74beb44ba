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
Each value comes with its 95 % confidence interval (McGraw & Wong 1996).

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


def icc(ratings: np.ndarray, form: str = "2,1", *, alpha: float = 0.05) -> dict[str, Any]:
    """The intraclass correlation of ``ratings`` (n targets × k raters) in Shrout & Fleiss form
    ``form`` (see the module table). Returns {"form", "description", "icc", "ci95" [low, high],
    "n_targets", "n_raters", and the mean squares}. NaN when the denominator is 0."""
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
    low, high = confidence_interval(ms, form, float(value), alpha=alpha)
    return {
        "form": f"ICC({form})",
        "description": FORM_DESCRIPTIONS[form],
        "icc": float(value),
        "ci95" if alpha == 0.05 else f"ci{round(100 * (1 - alpha))}": [low, high],
        "n_targets": int(n),
        "n_raters": int(k),
        "mean_squares": {key: ms[key] for key in ("BMS", "JMS", "WMS", "EMS")},
    }


def confidence_interval(ms: dict[str, float], form: str, value: float, *, alpha: float = 0.05) -> tuple[float, float]:
    """The (1 − alpha) confidence interval of an ICC from its mean squares (McGraw & Wong 1996;
    F distributions, Satterthwaite degrees of freedom for ICC(2,·)). NaN where undefined."""
    from scipy.stats import f as fisher

    bms, jms, wms, ems, n, k = (ms[key] for key in ("BMS", "JMS", "WMS", "EMS", "n", "k"))
    q = 1 - alpha / 2
    nan = (math.nan, math.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        if form in ("1,1", "1,k", "3,1", "3,k"):
            error, df_error = (wms, n * (k - 1)) if form[0] == "1" else (ems, (n - 1) * (k - 1))
            if error <= 0:
                return nan
            f_obs = bms / error
            f_low = f_obs / fisher.ppf(q, n - 1, df_error)
            f_high = f_obs * fisher.ppf(q, df_error, n - 1)
            if form.endswith(",1"):
                return float((f_low - 1) / (f_low + k - 1)), float((f_high - 1) / (f_high + k - 1))
            return float(1 - 1 / f_low), float(1 - 1 / f_high)
        # ICC(2,1) and ICC(2,k): the single-measure interval, then Spearman–Brown for k
        if ems <= 0:
            return nan
        single = (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n)
        a = k * single / (n * (1 - single)) if single < 1 else math.inf
        b = 1 + k * single * (n - 1) / (n * (1 - single)) if single < 1 else math.inf
        if not math.isfinite(a):
            return nan
        v = (a * jms + b * ems) ** 2 / ((a * jms) ** 2 / (k - 1) + (b * ems) ** 2 / ((n - 1) * (k - 1)))
        f_up = fisher.ppf(q, n - 1, v)
        f_down = fisher.ppf(q, v, n - 1)
        low = n * (bms - f_up * ems) / (f_up * (k * jms + (k * n - k - n) * ems) + n * bms)
        high = n * (f_down * bms - ems) / (k * jms + (k * n - k - n) * ems + n * f_down * bms)
        if form == "2,k":
            low, high = k * low / (1 + (k - 1) * low), k * high / (1 + (k - 1) * high)
        return float(low), float(high)


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


# ---- `thermcli eval --metric icc` on per-session summaries ------------------------------------

FAMILY = "icc"
# --metric icc → ICC(2,1) (test–retest default); icc1 / icc2 / icc3 / icc1k / icc2k / icc3k pick a form
METRICS = ("icc", "icc1", "icc2", "icc3", "icc1k", "icc2k", "icc3k")
GATES = ("icc",)
METRIC_FORMS = {"icc": "2,1", "icc1": "1,1", "icc2": "2,1", "icc3": "3,1", "icc1k": "1,k", "icc2k": "2,k", "icc3k": "3,k"}
# per-recording summary fields whose reproducibility is assessed (thermcli roi summary.csv/json)
MEASURES = (
    "baseline", "mean", "end", "change", "peak", "peak_change", "time_to_peak_s",
    "trough", "trough_change", "time_to_trough_s", "slope_per_min", "auc", "rate_bpm",
)


def read_summary_rows(path) -> list[dict[str, Any]]:
    """Per-recording summary rows from a ``thermcli roi`` output folder, its ``summary.json``
    (respiration rates merged in as ``rate_bpm``) or ``summary.csv``, or any CSV with columns
    ``subject``, ``session`` (or ``recording``), ``region`` and measures."""
    import csv
    import json
    from pathlib import Path

    from thermcli.errors import DataError

    path = Path(path)
    if path.is_dir():
        path = path / "summary.json"
    if not path.is_file():
        raise DataError("no such summary file (expected a roi output folder, summary.json or a CSV)", path=str(path))
    try:
        if path.suffix.lower() == ".json":
            doc = json.loads(path.read_text())
            rows = [dict(r) for r in doc.get("summaries", [])]
            rates = {(r.get("recording"), r.get("region")): r.get("rate_bpm") for r in doc.get("respiration", []) if r.get("recording") != "ALL"}
            for row in rows:
                rate = rates.get((row.get("recording"), row.get("region")))
                if rate is not None:
                    row["rate_bpm"] = rate
        else:
            with open(path, newline="") as fh:
                rows = list(csv.DictReader(fh))
    except (OSError, ValueError) as exc:
        raise DataError(f"unreadable summary ({' '.join(str(exc).split())[:120]})", path=str(path)) from None
    if not rows:
        raise DataError("holds no summary rows", path=str(path))
    if "subject" not in rows[0]:
        raise DataError("summary rows need a 'subject' column (the ICC's targets)", path=str(path))
    return rows


def _float(value: Any) -> float:
    try:
        return float(value) if value not in (None, "") else math.nan
    except (TypeError, ValueError):
        return math.nan


def assign_raters(rows: list[dict[str, Any]]) -> tuple[list[str], str]:
    """The rater (session) of each row: its ``session`` when sessions are shared between subjects;
    otherwise the order of the subject's recordings (1, 2, …) — repeated recordings of each
    subject are the repeated sessions."""
    sessions = [str(r.get("session") or r.get("recording") or "") for r in rows]
    subjects_per_session: dict[str, set] = {}
    for row, session in zip(rows, sessions):
        subjects_per_session.setdefault(session, set()).add(str(row["subject"]))
    if any(len(s) > 1 for s in subjects_per_session.values()):
        return sessions, "session"
    order: dict[tuple[str, str], int] = {}
    seen: dict[tuple[str, str], list[str]] = {}
    raters = []
    for row, session in zip(rows, sessions):
        key = (str(row["subject"]), str(row.get("region", "")))
        recordings = seen.setdefault(key, [])
        if session not in recordings:
            recordings.append(session)
        order[(key, session)] = recordings.index(session) + 1
        raters.append(str(order[(key, session)]))
    return raters, "order of the subject's recordings"


def evaluate(context, metrics: list[str]) -> dict[str, Any]:
    """ICC of every summary measure of every region, subjects as targets, sessions as raters."""
    from thermcli.errors import DataError, UsageError

    wanted = [m for m in metrics if m in METRICS] or ["icc"]
    if len(wanted) > 1:
        raise UsageError(f"pick one ICC form, got {', '.join(wanted)}", param="--metric")
    form = METRIC_FORMS[wanted[0]]
    rows = read_summary_rows(context.source)
    if context.data is not None:
        rows += read_summary_rows(context.data)
    raters, rater_kind = assign_raters(rows)
    regions = sorted({str(r.get("region", "")) for r in rows})
    table = []
    for region in regions:
        picked = [(r, k) for r, k in zip(rows, raters) if str(r.get("region", "")) == region]
        for measure in MEASURES:
            if measure not in picked[0][0]:
                continue
            targets = [str(r["subject"]) for r, _ in picked]
            values = [_float(r.get(measure)) for r, _ in picked]
            try:
                matrix, kept, rater_names, dropped = ratings_matrix(targets, [k for _, k in picked], values)
            except ValueError as exc:
                raise DataError(f"region {region!r}: {exc} (give each session its own --session label)", path=str(context.source)) from None
            entry: dict[str, Any] = {"region": region, "measure": measure, "n_targets": len(kept),
                                     "n_raters": len(rater_names), "dropped_targets": dropped}
            if len(kept) >= 2 and len(rater_names) >= 2:
                computed = icc(matrix, form)
                entry["icc"], entry["ci95"] = computed["icc"], computed["ci95"]
            else:
                entry["icc"], entry["ci95"] = math.nan, [math.nan, math.nan]
            table.append(entry)
    if not table:
        raise DataError("no summary measure found to compute an ICC of", path=str(context.source))
    headline = next((e["icc"] for e in table if e["measure"] == "mean"), table[0]["icc"])
    return {
        "form": f"ICC({form})",
        "description": FORM_DESCRIPTIONS[form],
        "targets": "subject",
        "raters": rater_kind,
        "icc": headline,
        "headline": f"{table[0]['region']}.{'mean' if any(e['measure'] == 'mean' for e in table) else table[0]['measure']}",
        "by_measure": table,
    }


def gate_value(result: dict[str, Any], key: str) -> float | None:
    """``icc`` → the headline (the first region's mean); ``icc.REGION.MEASURE`` → that entry."""
    if key == "icc":
        return result.get("icc")
    name, _, rest = key.partition(".")
    region, _, measure = rest.rpartition(".")
    if name != "icc":
        return None
    for entry in result.get("by_measure", []):
        if entry["region"] == region and entry["measure"] == measure:
            return entry["icc"]
    return None


def render(result: dict[str, Any]) -> list:
    from rich.table import Table

    table = Table(title=f"{result['description']}; targets: subjects, raters: {result['raters']}")
    for column in ("region", "measure", "ICC", "95% CI", "targets", "raters"):
        table.add_column(column, justify="left" if column in ("region", "measure") else "right")

    def fmt(value) -> str:
        return "nan" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.3f}"

    for entry in result["by_measure"]:
        low, high = entry.get("ci95", [None, None])
        table.add_row(entry["region"], entry["measure"], fmt(entry["icc"]), f"{fmt(low)} – {fmt(high)}",
                      str(entry["n_targets"]), str(entry["n_raters"]))
    return [table]
