"""``thermcli split``: group-aware train/val/test split by subject or sequence."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from thermcli.cli.options import BatchSize, Force, InputPath, JsonOut, Seed, resolved_options


def split(
    ctx: typer.Context,
    data: InputPath,
    out: Annotated[Path, typer.Argument(help="Output folder: train.h5, val.h5, test.h5 (PNG folders with --format png).", show_default=False)],
    by: Annotated[str, typer.Option("--by", help="Group id that never straddles two splits: subject or sequence.")] = "subject",
    fractions: Annotated[str, typer.Option("--fractions", help="TRAIN,VAL,TEST shares of the groups (VAL or TEST may be 0).")] = "0.6,0.2,0.2",
    val_groups: Annotated[Optional[str], typer.Option("--val", help="Comma list of groups to put in val (instead of drawing).")] = None,
    test_groups: Annotated[Optional[str], typer.Option("--test", help="Comma list of groups to put in test (instead of drawing).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="h5 or png.")] = "h5",
    seed: Seed = 0,
    batch_size: BatchSize = 512,
    force: Force = False,
    json_out: JsonOut = False,
) -> None:
    """Split a dataset into train/val/test by subject or sequence (groups drawn with --seed).

    Example: thermcli split sample_data/breathing.h5 splits/breathing --by subject --fractions 0.6,0.2,0.2 --seed 0
    """
    import json

    from thermcli.io import check_output
    from thermcli.progress import say
    from thermcli.stages.split import run_split

    parts = [p.strip() for p in fractions.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise typer.BadParameter(f"{fractions!r}: expected three numbers TRAIN,VAL,TEST", param_hint="--fractions") from None
    if len(values) != 3:
        raise typer.BadParameter(f"{fractions!r}: expected three numbers TRAIN,VAL,TEST", param_hint="--fractions")
    if fmt not in ("h5", "png"):
        raise typer.BadParameter(f"{fmt!r}: expected h5 or png", param_hint="--format")
    if out.suffix:
        raise typer.BadParameter(f"{out}: OUT is a folder (no suffix)", param_hint="OUT")
    check_output(out, force=force, inputs=[data])
    listing = lambda text: [g.strip() for g in text.split(",") if g.strip()] if text else []  # noqa: E731
    summary = run_split(data, out, by=by, fractions=values, seed=seed, val_groups=listing(val_groups),
                        test_groups=listing(test_groups), batch_size=batch_size, force=force,
                        suffix=".h5" if fmt == "h5" else "", options=resolved_options(ctx))
    if json_out:
        typer.echo(json.dumps(summary, indent=2))
    else:
        say(f"wrote {out}: " + ", ".join(f"{k} {v} frames ({len(summary['groups'][k])} {by}s)" for k, v in summary["frames"].items()))
