"""``thermcli synth``: deterministic sample data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from thermcli.cli.options import Force, resolved_options


def synth(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="What to generate (see the list above).", show_default=False)],
    out: Annotated[Path, typer.Argument(help="Output: a folder, or a .h5 file for one-dataset kinds.", show_default=False)],
    seed: Annotated[int, typer.Option("--seed", help="Generator seed: the same seed gives the same bytes of data.")] = 0,
    scale: Annotated[float, typer.Option("--scale", help="Size factor: 1.0 = the committed sample_data size.")] = 1.0,
    force: Force = False,
) -> None:
    """Generate physically plausible sample data, deterministically from --seed.

    Kinds: tug (paired RGB + 80×60 thermal Timed-Up-and-Go with COCO keypoints), breathing
    (thermal faces with INH/EXH labels), domains (RGB-like source and thermal-like target).

    Example: thermcli synth breathing sample_data/breathing.h5 --seed 0
    """
    from thermcli.io import check_output
    from thermcli.progress import say
    from thermcli.stages.synth import run_synth

    check_output(out, force=force)
    written = run_synth(kind, out, seed=seed, scale=scale, force=force, options=resolved_options(ctx))
    say(f"wrote {', '.join(str(p) for p in written)}")
