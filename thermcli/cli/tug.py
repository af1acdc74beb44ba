"""``thermcli tug``: Timed-Up-and-Go test time, phases and gait from keypoint tracks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from thermcli.cli.options import Force, JsonOut, resolved_options


def tug(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(help="Keypoints dataset (.h5, ground truth) or the output of `thermcli predict`.", show_default=False)],
    out: Annotated[Path, typer.Argument(help="Output folder (tug.csv, tug.json, plots/SEQUENCE.png).", show_default=False)],
    pixel_size: Annotated[Optional[float], typer.Option("--pixel-size", help="Metres per pixel along the walk: also report the walking speed in m/s.")] = None,
    min_score: Annotated[float, typer.Option("--min-score", help="Keypoints whose visibility/score is at or below this are missing.")] = 0.0,
    min_rise: Annotated[float, typer.Option("--min-rise", help="Least rise of the hip height (torso lengths) that counts as standing up.")] = 0.35,
    person: Annotated[int, typer.Option("--person", min=0, help="Which person's keypoints to analyse.")] = 0,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write plots/SEQUENCE.png (hip height and position, phases shaded).")] = True,
    json_out: JsonOut = False,
    force: Force = False,
) -> None:
    """Per sequence: the TUG time (rising off the chair to sitting back), the boundaries and
    durations of sit-to-stand, walk out, turn, walk back and turn-and-sit, walking speed, step
    count and cadence (when the frame rate resolves steps), each with a confidence; a sequence
    without a standing-up or sitting-back is reported "not found" with the reason.

    Example: thermcli tug predictions.h5 out/tug --pixel-size 0.02
    """
    import json

    from thermcli.cli import state
    from thermcli.io import check_output, make_provenance
    from thermcli.io.jsonable import jsonable
    from thermcli.stages.tug import run_tug

    check_output(out, force=force, inputs=[source])
    provenance = make_provenance("thermcli tug", resolved_options(ctx), inputs=[source])
    doc = run_tug(source, out, min_score=min_score, pixel_size=pixel_size, min_rise=min_rise, person=person,
                  plots=plots, force=force, provenance=provenance)
    if json_out:
        typer.echo(json.dumps(jsonable(doc["sequences"]), indent=2))
    elif not state.quiet:
        for seq in doc["sequences"]:
            if seq["found"]:
                typer.echo(f"{seq['sequence']}: TUG {seq['total_s']:.2f} s (confidence {seq['total_confidence']:.2f}, "
                           f"{seq['direction']})")
            else:
                typer.echo(f"{seq['sequence']}: not found — {seq['reason']}")
        typer.echo(f"wrote {out}")
