"""Print the `make demo` summary table from each pipeline's ``summary.json``."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(out: str, seconds: str = "0") -> None:
    from rich.console import Console
    from rich.table import Table

    rows = []
    for path in sorted(Path(out).glob("*/summary.json")):
        rows.append(json.loads(path.read_text()))
    table = Table(title=f"thermcli demo — {len(rows)} pipelines in {seconds} s")
    for column in ("pipeline", "headline metric", "value"):
        table.add_column(column)
    table.add_column("outputs", overflow="fold")
    for row in rows:
        value = row.get("value")
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        table.add_row(row.get("pipeline", "?"), row.get("metric", ""), text, "\n".join(row.get("outputs", [])))
    Console(width=max(120, Console().width)).print(table)


if __name__ == "__main__":
    main(*sys.argv[1:])
