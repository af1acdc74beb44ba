"""``thermcli info``: what an artifact holds, and where it came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from thermcli.cli.options import JsonOut


def info(
    path: Annotated[Path, typer.Argument(help="Dataset (.h5 / PNG folder), checkpoint (.pt), JSON or run folder.")],
    json_out: JsonOut = False,
    lineage: Annotated[bool, typer.Option("--lineage/--no-lineage", help="Show the provenance tree.")] = True,
) -> None:
    """Summarise an artifact: kind, shapes, dtypes, units, value range, classes, keypoints,
    subjects, and its lineage back to the camera files.

    Example: thermcli info sample_data/breathing.h5 --json
    """
    from thermcli.stages.inspect import lineage_rows, summarize

    summary = summarize(path)
    if json_out:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    table = Table(title=f"{summary['kind']}: {summary['path']}", show_header=False, title_justify="left")
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in summary.items():
        if key in ("kind", "path", "provenance"):
            continue
        if isinstance(value, float):
            text = f"{value:.4g}"
        elif isinstance(value, list) and value and isinstance(value[0], float):
            text = ", ".join(f"{v:.4g}" for v in value)
        elif isinstance(value, (dict, list)):
            text = json.dumps(value, default=str)
            if len(text) > 300:
                text = text[:297] + "..."
        else:
            text = str(value)
        table.add_row(key.replace("_", " "), text)
    console.print(table)
    if lineage:
        rows = lineage_rows(summary)
        if rows:
            console.print("[bold]lineage[/bold]")
            for depth, line in rows:
                console.print("  " * (depth + 1) + line)
