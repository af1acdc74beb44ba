"""Export a trained checkpoint to ONNX for edge devices, checked against PyTorch with onnxruntime."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from thermcli.errors import DataError, UsageError
from thermcli.io import atomic_path


def input_shape_of(config: dict[str, Any], override: tuple[int, ...] | None) -> tuple[int, ...]:
    """(C, H, W) of one model input: ``--input-shape``, else the checkpoint's ``input_shape`` (or
    a classifier's ``frames`` × ``frame_shape``)."""
    if override is not None:
        return tuple(override)
    from thermcli.models.checkpoint import recorded_input_shape

    shape = recorded_input_shape(config)
    if shape is None:
        raise UsageError("the checkpoint does not record its input shape; give --input-shape C,H,W", param="--input-shape")
    return shape


def _median_latency(fn, repeats: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def export_onnx(
    checkpoint: Path,
    out: Path,
    *,
    input_shape: tuple[int, ...] | None = None,
    opset: int = 18,
    tolerance: float = 1e-4,
    repeats: int = 20,
    force: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Write ``out`` (.onnx) and return a report: max |ONNX − PyTorch|, CPU latencies at batch 1.

    The batch dimension is dynamic. Raises DataError when the outputs differ by more than
    ``tolerance`` (nothing is written then).
    """
    import numpy as np
    import torch

    try:
        import onnxruntime
        import onnxscript  # noqa: F401  (torch's ONNX exporter needs it)
    except ImportError as exc:
        raise DataError(f"export-model needs the onnx extra ({exc.name} is missing): pip install 'thermcli[onnx]'") from None

    from thermcli.models.checkpoint import load_checkpoint

    model, config, _ = load_checkpoint(checkpoint)
    model.eval()
    shape = input_shape_of(config, input_shape)
    generator = torch.Generator().manual_seed(seed)
    example = torch.randn(2, *shape, generator=generator)

    with torch.no_grad():
        reference = model(example)
    if isinstance(reference, (tuple, list)):
        reference = reference[0]
    if isinstance(reference, dict):
        raise DataError("models with dict outputs cannot be exported", path=str(checkpoint))

    with atomic_path(out, force=force) as tmp:
        exporter = "dynamo"
        try:
            program = torch.onnx.export(
                model,
                (example,),
                input_names=["input"],
                output_names=["output"],
                dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),
                dynamo=True,
                opset_version=opset,
                verbose=False,
            )
            program.save(str(tmp))
        except Exception as exc:  # some graphs only trace with the TorchScript exporter
            _no_space(exc, tmp, out)  # a full disk is not a graph problem: no second try
            exporter = "torchscript"
            try:
                torch.onnx.export(
                    model,
                    (example,),
                    str(tmp),
                    input_names=["input"],
                    output_names=["output"],
                    dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                    opset_version=opset,
                    dynamo=False,
                )
            except Exception as exc2:
                _no_space(exc2, tmp, out)
                raise
        session = onnxruntime.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        onnx_out = session.run(None, {"input": example.numpy()})[0]
        max_diff = float(np.max(np.abs(onnx_out - reference.numpy())))
        if not max_diff <= tolerance:
            raise DataError(f"ONNX output differs from PyTorch by {max_diff:.2e} (> {tolerance:g})", path=str(out))
        one = example[:1]
        one_np = one.numpy()
        with torch.no_grad():
            torch_s = _median_latency(lambda: model(one), repeats)
        onnx_s = _median_latency(lambda: session.run(None, {"input": one_np}), repeats)
    return {
        "checkpoint": str(checkpoint),
        "onnx": str(out),
        "exporter": exporter,
        "opset": opset,
        "input_shape": list(shape),
        "max_abs_diff": max_diff,
        "tolerance": tolerance,
        "torch_cpu_ms_batch1": torch_s * 1e3,
        "onnxruntime_cpu_ms_batch1": onnx_s * 1e3,
        "speedup": torch_s / onnx_s if onnx_s > 0 else None,
    }


def _no_space(exc: BaseException, tmp: Path, out: Path) -> None:
    """Raise the one-line full-disk error naming ``out`` when ``exc`` is (or follows) a full disk:
    the ONNX writers report it in their own words, not always with the errno."""
    from thermcli.io.atomic import SPACE_MARGIN, free_bytes, is_no_space, no_space_error

    free = free_bytes(tmp.parent)
    if is_no_space(exc) or (free is not None and free < SPACE_MARGIN):
        raise no_space_error(out) from None
