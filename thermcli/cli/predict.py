"""``thermcli predict``: run a model on a dataset and write its predictions as a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from thermcli.cli.options import BatchSize, Device, Force, InputPath, OutputPath, resolved_options


def predict(
    ctx: typer.Context,
    model: Annotated[Path, typer.Argument(help="A model: .pt checkpoint or .skops ensemble (or its run folder).", show_default=False)],
    data: InputPath,
    out: OutputPath,
    batch_size: BatchSize = 256,
    device: Device = "auto",
    force: Force = False,
) -> None:
    """Predict: labels and class probabilities (columns/probabilities) for every frame of DATA.

    The output keeps DATA's frames, ids and columns; its labels are the predictions and
    columns/true_labels the ground truth when DATA had labels, so `thermcli eval OUT DATA` works
    without the model.

    Example: thermcli predict runs/breathing/best.pt test.h5 predictions.h5
    """
    from thermcli.io import check_output
    from thermcli.progress import say
    from thermcli.stages.predict import run_predict

    check_output(out, force=force, inputs=[model, data])
    summary = run_predict(model, data, out, device=device, batch_size=batch_size, force=force, options=resolved_options(ctx))
    say(f"wrote {out}: {summary['frames']} {summary['task']} predictions")
