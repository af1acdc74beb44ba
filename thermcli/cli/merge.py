"""``thermcli merge``: join the outputs of ``--shard K/N`` runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from thermcli.cli.options import BatchSize, Force, resolved_options


def merge(
    ctx: typer.Context,
    paths: Annotated[
        list[Path], typer.Argument(help="PARTS... OUT: the shard outputs (any order), then the output.", show_default=False)
    ],
    batch_size: BatchSize = 256,
    force: Force = False,
) -> None:
    """Join the outputs of --shard K/N runs (or any compatible datasets) into one.

    Shards are put in shard order and must be complete and from the same job; other datasets
    are joined in the order given.
    The output's provenance lists every part with its own provenance.

    Example: thermcli merge out/part0.h5 out/part1.h5 out/merged.h5
    """
    from thermcli.errors import UsageError
    from thermcli.io import check_output
    from thermcli.progress import say
    from thermcli.stages.merge import run_merge

    if len(paths) < 2:
        raise UsageError("give at least one part and the output: PARTS... OUT", param="PATHS")
    *parts, out = paths
    check_output(out, force=force, inputs=parts)
    rows = run_merge(parts, out, options=resolved_options(ctx), batch_size=batch_size, force=force)
    say(f"wrote {rows} rows to {out}")
