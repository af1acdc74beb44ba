"""``thermcli eval``: metrics of a model or of saved predictions against ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from thermcli.cli.options import BatchSize, Device, JsonOut, resolved_options


def eval_(
    ctx: typer.Context,
    source: Annotated[Optional[Path], typer.Argument(help="A model (.pt checkpoint, .skops ensemble) or a predictions dataset from `thermcli predict`.", show_default=False)] = None,
    data: Annotated[Optional[Path], typer.Argument(help="Ground-truth dataset (labels, keypoints, ...).", show_default=False)] = None,
    gt: Annotated[Optional[Path], typer.Option("--gt", help="--metric oks/bbox: ground truth as a COCO JSON (keypoints or boxes) or a thermcli dataset (instead of DATA).", show_default=False)] = None,
    pred: Annotated[Optional[Path], typer.Option("--pred", help="--metric oks/bbox: predictions as a COCO results JSON or a predictions dataset (instead of SOURCE).", show_default=False)] = None,
    area_ranges: Annotated[Optional[str], typer.Option("--area-ranges", help="--metric oks/bbox: custom COCO area ranges LABEL=LO:HI px², e.g. medium=0:400,large=400:1e10 (80×60 frames: everyone is below COCO's 32²).")] = None,
    sigmas: Annotated[Optional[str], typer.Option("--sigmas", help="--metric oks: per-keypoint OKS sigmas, comma list (default: the dataset's, else COCO's 17).")] = None,
    metric: Annotated[str, typer.Option("--metric", "-m", help="Comma list: accuracy, balanced_accuracy, precision, recall, f1, confusion, roc_auc, classification (all of those), cost, oks, bbox, icc, ...")] = "classification",
    fail_under: Annotated[Optional[str], typer.Option("--fail-under", help="Gates METRIC=VALUE[,...], e.g. f1=0.9 (macro), recall.EXH=0.8: exit 3 when one fails.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", help="Also write the metrics as JSON to this file.")] = None,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="--metric cost: timed runs (median reported).")] = 20,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="--metric cost: untimed warm-up runs.")] = 5,
    estimate_column: Annotated[Optional[str], typer.Option("--estimate-column", help="--metric bland-altman: the estimates' column of the SOURCE table (default rate_bpm).")] = None,
    reference_column: Annotated[Optional[str], typer.Option("--reference-column", help="--metric bland-altman: the reference column, of SOURCE or of the DATA table (default reference_bpm).")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="--metric bland-altman: write the Bland–Altman plot (PNG) here.")] = None,
    batch_size: BatchSize = 64,
    device: Device = "auto",
    json_out: JsonOut = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing --output.")] = False,
) -> None:
    """Evaluate: classification metrics identical to scikit-learn's, COCO keypoint OKS and box AP
    identical to pycocotools', model cost, and quality gates.

    --metric oks: AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl, per-keypoint OKS and pixel
    error, of a keypoint model run on DATA (person crops mapped back to the frame), a predictions
    dataset, or a COCO results JSON (--pred) against a dataset or COCO JSON (--gt).

    --metric bbox: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl and per-class
    rows (gate one with e.g. --fail-under AP50.person=0.8), of a detection model, a predictions
    dataset (boxes, scores, box_classes) or a COCO results JSON, against a dataset or COCO JSON.

    Example: thermcli eval runs/breathing/best.pt test.h5 --metric classification --fail-under balanced_accuracy=0.9 --output metrics.json
    """
    import json

    from rich.console import Console

    from thermcli.cli import state
    from thermcli.io import check_output, write_text_atomic
    from thermcli.stages.evaluate import gate_error, failed_gates, jsonable, run_eval

    if output is not None:
        check_output(output, force=force, param="--output", inputs=[source, data, gt, pred])
    _check_bland_altman_options(metric, estimate_column, reference_column, plot, force, [source, data])
    if pred is not None and source is not None:
        raise typer.BadParameter("give SOURCE or --pred, not both", param_hint="--pred")
    if gt is not None and data is not None:
        raise typer.BadParameter("give DATA or --gt, not both", param_hint="--gt")
    source = pred if pred is not None else source
    data = gt if gt is not None else data
    if source is None:
        raise typer.BadParameter("give a model or predictions (SOURCE or --pred)", param_hint="SOURCE")
    names = [m.strip() for m in metric.split(",") if m.strip()]
    if not names:
        raise typer.BadParameter("empty list", param_hint="--metric")
    options = resolved_options(ctx)
    report = jsonable(run_eval(source, data, metrics=names, fail_under=fail_under, device=device,
                               batch_size=batch_size, options=options))
    text = json.dumps(report, indent=2)
    if output is not None:
        write_text_atomic(output, text + "\n", force=True)
    if json_out:
        typer.echo(text)
    elif not state.quiet:
        from thermcli.stages.evaluate import families

        console = Console()
        for family, result in report["metrics"].items():
            render = getattr(families()[family], "render", None)
            for table in render(result) if render else []:
                console.print(table)
            if render is None:
                console.print_json(json.dumps(result))
        for gate in report["gates"]:
            mark = "pass" if gate["passed"] else "FAIL"
            console.print(f"gate {gate['metric']} ≥ {gate['threshold']:g}: {gate['value']:.4f} {mark}")
    if failed_gates(report):
        raise gate_error(report)


def _check_bland_altman_options(metric: str, estimate_column, reference_column, plot, force: bool, inputs) -> None:
    """--estimate-column/--reference-column/--plot belong to --metric bland-altman: refused without it."""
    from thermcli.errors import UsageError
    from thermcli.io import check_output

    names = {m.strip() for m in metric.split(",")}
    wanted = bool(names & {"bland-altman", "bland_altman"})
    for value, param in ((estimate_column, "--estimate-column"), (reference_column, "--reference-column"), (plot, "--plot")):
        if value is not None and not wanted:
            raise UsageError("applies to --metric bland-altman only", param=param)
    if plot is not None:
        check_output(plot, force=force, param="--plot", inputs=[i for i in inputs if i is not None])
