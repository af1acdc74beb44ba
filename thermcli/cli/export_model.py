"""``thermcli export-model``: a checkpoint to ONNX, verified with onnxruntime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from thermcli.cli.options import Force, JsonOut


def _parse_shape(text: Optional[str]) -> Optional[tuple[int, ...]]:
    if text is None:
        return None
    try:
        shape = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"{text!r}: expected C,H,W such as 1,60,80", param_hint="--input-shape") from None
    if len(shape) != 3 or min(shape) < 1:
        raise typer.BadParameter(f"{text!r}: expected three positive sizes C,H,W", param_hint="--input-shape")
    return shape


def export_model(
    model: Annotated[Path, typer.Argument(help="A thermcli checkpoint (.pt).", show_default=False)],
    out: Annotated[Path, typer.Argument(help="ONNX file to write (.onnx).", show_default=False)],
    input_shape: Annotated[
        Optional[str], typer.Option("--input-shape", help="C,H,W of one input; default: the checkpoint's own.")
    ] = None,
    opset: Annotated[int, typer.Option("--opset", min=13, help="ONNX opset version.")] = 18,
    tolerance: Annotated[float, typer.Option("--tolerance", help="Largest accepted |ONNX − PyTorch| difference.")] = 1e-4,
    force: Force = False,
    json_out: JsonOut = False,
) -> None:
    """Export a trained model to ONNX (dynamic batch), check with onnxruntime that its outputs
    equal PyTorch's within --tolerance, and time both on the CPU at batch 1.

    Example: thermcli export-model runs/breathing/best.pt breathing.onnx
    """
    from thermcli.errors import UsageError
    from thermcli.io import check_output
    from thermcli.progress import say
    from thermcli.stages.export_model import export_onnx

    if out.suffix.lower() != ".onnx":
        raise UsageError(f"{out} must end in .onnx", param="OUT")
    check_output(out, force=force, inputs=[model])
    report = export_onnx(model, out, input_shape=_parse_shape(input_shape), opset=opset, tolerance=tolerance, force=force)
    if json_out:
        typer.echo(json.dumps(report, indent=2))
    else:
        say(
            f"wrote {out}: max |onnx − torch| = {report['max_abs_diff']:.2e}; CPU batch 1: "
            f"torch {report['torch_cpu_ms_batch1']:.2f} ms, onnxruntime {report['onnxruntime_cpu_ms_batch1']:.2f} ms"
        )
