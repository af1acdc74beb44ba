"""Run folders for training commands: ``runs/NAME/`` with ``config.json``, ``metrics.csv``
(one row an epoch), ``curves.png``, ``best.pt`` and ``last.pt``.

Each file is replaced atomically, so an interrupted run leaves the previous epoch's files intact
and ``--resume`` continues from ``last.pt``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from thermcli.errors import OutputExistsError
from thermcli.io.atomic import write_bytes_atomic, write_text_atomic


class RunDir:
    """A training run's output folder."""

    def __init__(self, path: str | Path, *, force: bool = False, resume: bool = False):
        self.path = Path(path)
        if self.path.exists() and not (force or resume):
            if any(self.path.iterdir()):
                raise OutputExistsError(f"run folder {self.path} exists; pass --force or --resume", param="--out")
        self.path.mkdir(parents=True, exist_ok=True)
        self.rows: list[dict[str, Any]] = []
        if resume and (self.path / "metrics.csv").is_file():
            with open(self.path / "metrics.csv", newline="") as fh:
                self.rows = [
                    {k: _parse_number(v) for k, v in row.items()} for row in csv.DictReader(fh)
                ]

    @property
    def last(self) -> Path:
        return self.path / "last.pt"

    @property
    def best(self) -> Path:
        return self.path / "best.pt"

    def write_config(self, config: dict[str, Any]) -> None:
        write_text_atomic(self.path / "config.json", json.dumps(config, indent=2, default=str) + "\n")

    def log(self, row: dict[str, Any], *, plot: bool = True) -> None:
        """Append an epoch's row to ``metrics.csv`` (rewritten atomically) and redraw ``curves.png``."""
        self.rows.append(dict(row))
        header: list[str] = []
        for r in self.rows:
            header.extend(k for k in r if k not in header)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        for r in self.rows:
            writer.writerow({k: _format_number(r.get(k, "")) for k in header})
        write_text_atomic(self.path / "metrics.csv", buffer.getvalue())
        if plot:
            self.plot()

    def truncate(self, epochs: int) -> None:
        """Keep the first ``epochs`` rows (on resume, rows after ``last.pt`` are discarded)."""
        self.rows = [r for r in self.rows if int(r.get("epoch", 0)) < epochs]

    def plot(self, path: str | Path | None = None) -> Path:
        """Training curves: losses on the left, other metrics on the right."""
        target = Path(path) if path else self.path / "curves.png"
        write_bytes_atomic(target, curves_png(self.rows))
        return target


def curves_png(rows: list[dict[str, Any]], *, x: str = "epoch") -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in (rows[0] if rows else {}) if k != x]
    for r in rows:
        keys.extend(k for k in r if k != x and k not in keys)
    numeric = [k for k in keys if any(isinstance(r.get(k), (int, float)) for r in rows)]
    losses = [k for k in numeric if "loss" in k]
    others = [k for k in numeric if k not in losses and k not in ("lr", "seconds", "trainable_stages")]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), dpi=100)
    for ax, group, title in ((axes[0], losses, "loss"), (axes[1], others, "metrics")):
        for key in group:
            xs = [r.get(x, i) for i, r in enumerate(rows) if isinstance(r.get(key), (int, float))]
            ys = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
            ax.plot(xs, ys, marker="o", markersize=3, label=key)
        ax.set_title(title)
        ax.set_xlabel(x)
        ax.grid(alpha=0.3)
        if group:
            ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _format_number(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return value


def _parse_number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text
