"""Bland–Altman agreement of paired measurements (Bland & Altman 1986, 1999): how far a new
method (e.g. the respiration rate from thermal video) lies from a reference (the spirometer).

The differences ``d = estimate − reference`` give the **bias** (mean of d) and the 95 % **limits of
agreement** ``bias ± 1.96·SD(d)``: the range within which 95 % of the new method's differences are
expected to fall. Their 95 % confidence intervals use Student's t with n − 1 degrees of freedom:
``SE(bias) = SD/√n`` and ``SE(limit) = SD·√(1/n + z²/(2(n−1)))`` (Bland & Altman 1999, §4.2).
The mean absolute error (MAE) and RMSE are reported beside them.

>>> r = bland_altman([12.0, 15.0, 20.0, 18.0], [11.0, 15.5, 19.0, 18.5])
>>> round(r["bias"], 3), round(r["sd"], 3), [round(v, 3) for v in r["loa"]], round(r["mae"], 3)
(0.25, 0.866, [-1.447, 1.947], 0.75)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

FAMILY = "bland-altman"
METRICS = ("bland-altman", "bland_altman")
GATES = ()

Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal


def bland_altman(estimate, reference, *, confidence: float = 0.95) -> dict[str, Any]:
    """Bias, limits of agreement with confidence intervals, MAE and RMSE of paired values.

    Pairs where either value is not finite are left out (counted in ``dropped``). Needs at least
    two pairs (``ValueError``). ``confidence`` is that of the confidence intervals; the limits of
    agreement are always the 95 % ones.
    """
    from scipy import stats

    estimate = np.asarray(estimate, np.float64).ravel()
    reference = np.asarray(reference, np.float64).ravel()
    if estimate.shape != reference.shape:
        raise ValueError(f"{len(estimate)} estimates for {len(reference)} reference values")
    both = np.isfinite(estimate) & np.isfinite(reference)
    e, r = estimate[both], reference[both]
    n = len(e)
    if n < 2:
        raise ValueError(f"Bland–Altman needs at least 2 pairs with both values, got {n}")
    d = e - r
    bias = float(np.mean(d))
    sd = float(np.std(d, ddof=1))
    t = float(stats.t.ppf(0.5 + confidence / 2, n - 1))
    se_bias = sd / math.sqrt(n)
    se_limit = sd * math.sqrt(1.0 / n + Z95**2 / (2 * (n - 1)))
    low, high = bias - Z95 * sd, bias + Z95 * sd
    mean = (e + r) / 2
    centred = mean - mean.mean()
    spread = float(np.sum(centred**2))
    slope = float(np.sum(centred * (d - bias)) / spread) if n > 2 and spread > 1e-12 * max(1.0, float(np.sum(mean**2))) else math.nan
    return {
        "n": int(n),
        "dropped": int(len(both) - n),
        "bias": bias,
        "bias_ci": [bias - t * se_bias, bias + t * se_bias],
        "sd": sd,
        "loa": [low, high],
        "loa_low_ci": [low - t * se_limit, low + t * se_limit],
        "loa_high_ci": [high - t * se_limit, high + t * se_limit],
        "mae": float(np.mean(np.abs(d))),
        "rmse": float(math.sqrt(np.mean(d**2))),
        "within_loa": float(np.mean((d >= low) & (d <= high))),
        "proportional_slope": slope,  # difference on mean: ≠ 0 when the error grows with the value
        "confidence": confidence,
    }


def _table(path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    from thermcli.io.signals import read_signal_table

    path = Path(path)
    if path.is_dir():
        path = path / "respiration.csv"
    return path, read_signal_table(path)


def _column(path: Path, table: dict[str, np.ndarray], column: str, param: str) -> np.ndarray:
    from thermcli.errors import DataError, UsageError

    if column not in table:
        raise UsageError(f"no column {column!r} in {path} (columns: {', '.join(table)})", param=param)
    if table[column].dtype == object:
        raise DataError(f"column {column!r} is not numeric", path=str(path))
    return table[column]


def read_pairs(source: Path, estimate_column: str, reference_column: str, data: Path | None = None):
    """(estimate, reference, rows left out) from a CSV/text table — e.g. the ``respiration.csv``
    that ``thermcli roi --signal breathing --reference …`` writes (a roi output folder means its
    ``respiration.csv``) — or the reference column from a second table ``data`` of the same rows.
    Windows the table flags unreadable (an ``accepted`` column at 0) are left out."""
    from thermcli.errors import DataError

    path, table = _table(source)
    estimate = _column(path, table, estimate_column, "--estimate-column")
    if data is None:
        reference = _column(path, table, reference_column, "--reference-column")
    else:
        data_path, data_table = _table(data)
        reference = _column(data_path, data_table, reference_column, "--reference-column")
        if len(reference) != len(estimate):
            raise DataError(f"{len(reference)} reference rows for {len(estimate)} estimate rows in {path}", path=str(data_path))
    keep = np.ones(len(estimate), bool)
    if "accepted" in table and table["accepted"].dtype != object:
        keep = table["accepted"] > 0
    return estimate[keep], reference[keep], int((~keep).sum())


def evaluate(context, metrics: list[str]) -> dict[str, Any]:
    """Bland–Altman of SOURCE's estimate column against its reference column (one table), or
    against DATA's reference column (two tables of the same rows)."""
    from thermcli.errors import DataError

    options = context.options
    estimate_column = options.get("estimate_column") or "rate_bpm"
    reference_column = options.get("reference_column") or "reference_bpm"
    estimate, reference, rejected = read_pairs(context.source, estimate_column, reference_column, context.data)
    try:
        result = bland_altman(estimate, reference)
    except ValueError as exc:
        raise DataError(str(exc), path=str(context.source)) from None
    result.update({"estimate_column": estimate_column, "reference_column": reference_column, "rejected": rejected})
    plot = options.get("plot")
    if plot:
        write_plot(Path(plot), estimate, reference, result, force=bool(options.get("force")))
        result["plot"] = str(plot)
    return result


def write_plot(path: Path, estimate, reference, result: dict[str, Any], *, force: bool = False) -> None:
    """The Bland–Altman plot (difference against mean, bias and limits with their CIs), written
    atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from thermcli.io import atomic_path

    e = np.asarray(estimate, np.float64)
    r = np.asarray(reference, np.float64)
    both = np.isfinite(e) & np.isfinite(r)
    mean, diff = (e[both] + r[both]) / 2, e[both] - r[both]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(mean, diff, s=12, alpha=0.6, color="#3060a0")
    for value, ci, label, style in (
        (result["bias"], result["bias_ci"], f"bias {result['bias']:+.2f}", "-"),
        (result["loa"][0], result["loa_low_ci"], f"−1.96 SD {result['loa'][0]:+.2f}", "--"),
        (result["loa"][1], result["loa_high_ci"], f"+1.96 SD {result['loa'][1]:+.2f}", "--"),
    ):
        ax.axhline(value, color="#c03030", linestyle=style, linewidth=1)
        ax.axhspan(ci[0], ci[1], color="#c03030", alpha=0.08)
        ax.annotate(label, xy=(1.0, value), xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=8)
    ax.set_xlabel(f"mean of {result.get('estimate_column', 'estimate')} and {result.get('reference_column', 'reference')}")
    ax.set_ylabel("estimate − reference")
    ax.set_title(f"Bland–Altman: n={result['n']}, MAE {result['mae']:.2f}")
    fig.tight_layout()
    with atomic_path(path, force=force) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


def render(result: dict[str, Any]) -> list:
    from rich.table import Table

    def ci(pair) -> str:
        return f"{pair[0]:.3f} – {pair[1]:.3f}"

    table = Table(title=f"Bland–Altman: {result['estimate_column']} − {result['reference_column']}, n={result['n']}"
                  + (f" ({result['rejected']} windows flagged unreadable left out)" if result.get("rejected") else ""))
    for column in ("statistic", "value", f"{result['confidence'] * 100:g}% CI"):
        table.add_column(column, justify="left" if column == "statistic" else "right")
    table.add_row("bias", f"{result['bias']:+.3f}", ci(result["bias_ci"]))
    table.add_row("lower limit of agreement", f"{result['loa'][0]:+.3f}", ci(result["loa_low_ci"]))
    table.add_row("upper limit of agreement", f"{result['loa'][1]:+.3f}", ci(result["loa_high_ci"]))
    table.add_row("SD of differences", f"{result['sd']:.3f}", "")
    table.add_row("MAE", f"{result['mae']:.3f}", "")
    table.add_row("RMSE", f"{result['rmse']:.3f}", "")
    table.add_row("within limits", f"{result['within_loa'] * 100:.1f}%", "")
    return [table]
