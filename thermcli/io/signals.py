"""Per-frame tables: class labels or signals, one row per frame.

``read_signal_table`` reads CSV (comma or semicolon), TSV and whitespace-separated text with an
optional header row, and tolerates the ``++``-prefixed header and ``$$``-prefixed values written by
some acquisition tools (e.g. the spirometer logs in ``../shared/data/breathing-spirometry``)::

    ++flow   ++volume   ++radius
    $$0.314  $$-0.100   $$8.000
    $$0.413  $$nan      $$nan

Numeric columns come back as float64 (``nan``/empty → NaN); any other column as an object array
of strings.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import numpy as np

from thermcli.errors import DataError

_PREFIX = re.compile(r"^(\$\$|\+\+)")


def _clean(cell: str) -> str:
    return _PREFIX.sub("", cell.strip()).strip()


def _is_number(text: str) -> bool:
    if text == "" or text.lower() in ("nan", "na", "null", "none"):
        return True
    try:
        float(text)
        return True
    except ValueError:
        return False


def _split_rows(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        return []
    sample = "\n".join(lines[:20])
    if "," in sample or ";" in sample:
        delimiter = "," if sample.count(",") >= sample.count(";") else ";"
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    else:
        rows = [line.split() for line in lines]
    return [[_clean(cell) for cell in row] for row in rows]


def _read_text(path: str | os.PathLike) -> tuple[str, str]:
    """(the path as shown in errors, the file's text); a missing or unreadable file → DataError."""
    path = Path(path)
    where = str(path)
    try:
        return where, path.read_text(encoding="utf-8-sig", errors="replace")
    except FileNotFoundError:
        raise DataError("no such file", path=where) from None
    except OSError as exc:
        raise DataError(f"cannot read ({' '.join(str(exc).split())[:100]})", path=where) from None


def read_signal_table(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Columns of a per-frame table by name, in file order.

    A first row that is not all numbers is the header (``++`` prefixes dropped); without one, the
    columns are named ``col0, col1, …``. Trailing empty cells (a trailing tab) are ignored.
    Raises ``DataError`` naming the file for a missing file, no rows, or ragged rows.
    """
    where, text = _read_text(path)
    rows = _split_rows(text)
    # a trailing separator leaves an empty last cell on every row
    while rows and all(row and row[-1] == "" for row in rows):
        rows = [row[:-1] for row in rows]
    if not rows:
        raise DataError("table has no rows", path=where)
    header_row = rows[0]
    if all(_is_number(cell) for cell in header_row) and any(cell != "" for cell in header_row):
        names = [f"col{k}" for k in range(len(header_row))]
        body = rows
    else:
        names = [cell or f"col{k}" for k, cell in enumerate(header_row)]
        body = rows[1:]
    if len(set(names)) != len(names):
        raise DataError(f"duplicate column names in header {names}", path=where)
    for line, row in enumerate(body, start=2 if body is not rows else 1):
        if len(row) != len(names):
            raise DataError(f"row {line} has {len(row)} values but the header names {len(names)} columns", path=where)
    table: dict[str, np.ndarray] = {}
    for k, name in enumerate(names):
        cells = [row[k] for row in body]
        if all(_is_number(c) for c in cells):
            table[name] = np.array(
                [np.nan if c == "" or c.lower() in ("nan", "na", "null", "none") else float(c) for c in cells],
                dtype=np.float64,
            )
        else:
            table[name] = np.array(cells, dtype=object)
    return table


def table_length(table: dict[str, np.ndarray]) -> int:
    return len(next(iter(table.values()))) if table else 0


def read_leading_columns(path: str | os.PathLike, names: tuple[str, ...] | list[str]) -> dict[str, np.ndarray]:
    """The first ``len(names)`` columns of a numeric table, named ``names``, ignoring whatever
    follows on each row (device logs whose rows carry a varying number of extra fields, e.g. the
    spirometer's ``1_spiro.txt``). A non-numeric first row is a header and is skipped.
    Raises ``DataError`` naming the file for a missing file, no rows, a short row or a
    non-number in those columns."""
    where, text = _read_text(path)
    rows = _split_rows(text)
    if rows and not all(_is_number(c) for c in rows[0][: len(names)]):
        rows = rows[1:]
    if not rows:
        raise DataError("table has no rows", path=where)
    k = len(names)
    values = np.empty((len(rows), k), np.float64)
    for line, row in enumerate(rows, start=1):
        if len(row) < k:
            raise DataError(f"row {line} has {len(row)} values but {k} columns were named", path=where)
        for j in range(k):
            cell = row[j]
            if not _is_number(cell):
                raise DataError(f"row {line} column {j}: {cell[:20]!r} is not a number", path=where)
            values[line - 1, j] = np.nan if cell == "" or cell.lower() in ("nan", "na", "null", "none") else float(cell)
    return {name: values[:, j].copy() for j, name in enumerate(names)}
