"""Per-frame tables beside the frames (``--labels``, ``--signals``, ``--overrides``) and the
subject/sequence ids taken from them or from file paths."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.stages.importer.options import ImportOptions, ImportReport
from thermcli.stages.importer.sources import _Unit

# ---- per-frame tables -----------------------------------------------------------------------------


def _load_tables(paths: tuple[Path, ...], units: list[_Unit], n_sources: int, what: str, options: ImportOptions, report: ImportReport):
    """Tables aligned to units: one per SOURCE, one per unit, or one over all units' frames.
    Returns (table, offset) per unit: the unit's rows start at ``offset`` of its table."""
    from thermcli.io.signals import read_signal_table, table_length

    if not paths:
        return None
    tables = [read_signal_table(p) for p in paths]
    counts = [u.n for u in units]
    if len(tables) == 1:
        groups = [(list(range(len(units))), tables[0], paths[0])]
    elif len(tables) == n_sources:
        # a skipped source (--skip-bad) simply leaves its table unused
        groups = [([i for i, u in enumerate(units) if u.source_index == k], t, p) for k, (t, p) in enumerate(zip(tables, paths))]
    elif len(tables) == len(units):
        groups = [([i], t, p) for i, (t, p) in enumerate(zip(tables, paths))]
    else:
        raise UsageError(f"{len(tables)} tables for {n_sources} sources: give one per SOURCE or one for all", param=what)
    per_unit: list[tuple[dict[str, np.ndarray], int]] = [None] * len(units)  # type: ignore[list-item]
    for members, table, path in groups:
        need = sum(counts[i] for i in members)
        rows = table_length(table)
        if rows < need:
            raise DataError(f"has {rows} rows but its sources hold {need} frames", path=str(path))
        if rows > need:
            if not options.extra_rows:
                raise DataError(
                    f"has {rows} rows but its sources hold {need} frames (pass --extra-rows to drop the last {rows - need})",
                    path=str(path),
                )
            report.warnings.append(f"{path}: dropped its last {rows - need} row(s) beyond the {need} frames")
        offset = 0
        for i in members:
            per_unit[i] = (table, offset)
            offset += counts[i]
    return per_unit


def _check_columns(names: list[str], tables, param: str) -> None:
    import difflib

    available: list[str] = []
    for table, _ in tables:
        available = list(table)
        for name in names:
            if name not in table:
                close = difflib.get_close_matches(name, available, n=2)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise UsageError(f"no column {name!r} in the table (columns: {', '.join(available)}){hint}", param=param)


def _labels_from(values: np.ndarray, class_names: tuple[str, ...] | None, path: str) -> tuple[np.ndarray, list[str] | None]:
    if values.dtype == object:
        texts = [str(v).strip() for v in values]
        present = sorted({t for t in texts if t and t.lower() not in ("nan", "na", "none")})
        names = list(class_names) if class_names else present
        index = {name: i for i, name in enumerate(names)}
        labels = np.full(len(texts), -1, np.int64)
        for j, text in enumerate(texts):
            if not text or text.lower() in ("nan", "na", "none"):
                continue
            if text not in index:
                raise DataError(f"label {text!r} is not one of the class names {names}", path=path)
            labels[j] = index[text]
        return labels, names
    labels = np.where(np.isfinite(values), values, -1)
    if np.any(labels != np.round(labels)):
        raise DataError("label column holds non-integer numbers", path=path)
    labels = labels.astype(np.int64)
    names = list(class_names) if class_names else None
    if names is not None and labels.size and labels.max() >= len(names):
        raise DataError(f"label {int(labels.max())} is outside the {len(names)} class names", path=path)
    return labels, names


def _overrides_table(options: ImportOptions) -> dict[str, dict[str, float]]:
    if options.overrides is None:
        return {}
    from thermcli.io.signals import read_signal_table

    table = read_signal_table(options.overrides)
    if "file" not in table:
        raise UsageError("the overrides table needs a 'file' column (and emissivity and/or ambient)", param="--overrides")
    unknown = set(table) - {"file", "emissivity", "ambient"}
    if unknown:
        raise UsageError(f"unknown override columns {sorted(unknown)} (known: emissivity, ambient)", param="--overrides")
    out: dict[str, dict[str, float]] = {}
    for j, name in enumerate(table["file"]):
        record = {}
        for key in ("emissivity", "ambient"):
            if key in table and np.isfinite(table[key][j]):
                record[key] = float(table[key][j])
        out[str(name)] = record
    return out


def _group_id(path: Path, regex: str | None, param: str) -> str | None:
    if regex is None:
        return None
    try:
        match = re.search(regex, path.as_posix())
    except re.error as exc:
        raise UsageError(f"bad regular expression: {exc}", param=param) from None
    if match is None:
        raise UsageError(f"{regex!r} does not match {path.name}", param=param)
    return match.group(1) if match.groups() else match.group(0)


def _id_text(cell: Any) -> str:
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, (np.floating,)) and float(cell).is_integer():
        return str(int(cell))
    return str(cell)
