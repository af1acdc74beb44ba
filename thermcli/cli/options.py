"""Options shared by several commands, defined once, and parsers for their text forms.

Parsers raise ``typer.BadParameter`` so the message names the option and the exit code is 2.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

# ---- shared options -------------------------------------------------------------------------

Force = Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing output.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of every random step (recorded in the output).")]
Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
Workers = Annotated[int, typer.Option("--workers", min=1, help="Parallel worker processes.")]
Shard = Annotated[
    Optional[str],
    typer.Option("--shard", help="Process only slice K of N (0-based, e.g. 0/4); join with `thermcli merge`."),
]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Frames per streamed batch.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
InputPath = Annotated[Path, typer.Argument(help="Input dataset: .h5 file or PNG folder.", show_default=False)]
OutputPath = Annotated[Path, typer.Argument(help="Output: .h5 file or PNG folder.", show_default=False)]


# ---- parsers --------------------------------------------------------------------------------

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def _float(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a number", param_hint=option) from None
    if not math.isfinite(value):
        raise typer.BadParameter(f"{text!r} is not a finite number", param_hint=option)
    return value


def parse_levels(text: str, option: str = "--range") -> list[float]:
    """``START:STOP:STEP`` (STOP included when reached) or a comma list ``50,150,250``.

    >>> parse_levels("50:300:100")
    [50.0, 150.0, 250.0]
    >>> parse_levels("0:1:0.25")
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    text = text.strip()
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise typer.BadParameter(f"{text!r}: expected START:STOP:STEP", param_hint=option)
        start, stop, step = (_float(p, option) for p in parts)
        if step <= 0:
            raise typer.BadParameter(f"{text!r}: STEP must be > 0", param_hint=option)
        if stop < start:
            raise typer.BadParameter(f"{text!r}: STOP must be ≥ START", param_hint=option)
        count = int(math.floor((stop - start) / step + 1e-9)) + 1
        if count > 10_000:
            raise typer.BadParameter(f"{text!r} gives {count} levels; at most 10000", param_hint=option)
        return [round(start + i * step, 12) for i in range(count)]
    values = [_float(p, option) for p in text.split(",") if p.strip()]
    if not values:
        raise typer.BadParameter("no levels given", param_hint=option)
    return values


def parse_interval(text: str, option: str) -> tuple[float, float]:
    """``LO:HI`` with LO < HI, e.g. a temperature window ``20:40``."""
    parts = text.split(":")
    if len(parts) != 2:
        raise typer.BadParameter(f"{text!r}: expected LO:HI", param_hint=option)
    lo, hi = (_float(p, option) for p in parts)
    if lo >= hi:
        raise typer.BadParameter(f"{text!r}: LO must be < HI", param_hint=option)
    return lo, hi


def parse_size(text: str, option: str = "--crop") -> tuple[int, int]:
    """``HxW`` in pixels, height first as pose models write it (``256x192`` → (256, 192))."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise typer.BadParameter(f"{text!r}: expected HEIGHTxWIDTH, e.g. 256x192", param_hint=option)
    return int(match.group(1)), int(match.group(2))


def parse_duration(text: str, option: str) -> float:
    """A duration in seconds: ``60ms``, ``0.5s``, ``2`` (seconds), ``1.5min``."""
    match = re.fullmatch(rf"\s*({_NUMBER})\s*(ms|s|min|)\s*", text)
    if not match:
        raise typer.BadParameter(f"{text!r}: expected a duration such as 60ms or 0.5s", param_hint=option)
    value = float(match.group(1))
    return value * {"ms": 1e-3, "s": 1.0, "": 1.0, "min": 60.0}[match.group(2)]


def parse_shard(text: str | None, option: str = "--shard") -> tuple[int, int] | None:
    """``K/N`` (0 ≤ K < N) → (K, N); None when not given."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise typer.BadParameter(f"{text!r}: expected K/N, e.g. 0/4", param_hint=option)
    k, n = int(match.group(1)), int(match.group(2))
    if n < 1 or not 0 <= k < n:
        raise typer.BadParameter(f"{text!r}: need 0 ≤ K < N", param_hint=option)
    return k, n


def shard_bounds(n_items: int, shard: tuple[int, int] | None) -> tuple[int, int]:
    """Rows [start, stop) of shard K of N: contiguous, sizes differ by at most one."""
    if shard is None:
        return 0, n_items
    k, n = shard
    return (n_items * k) // n, (n_items * (k + 1)) // n


def parse_choice_list(text: str, choices: list[str], option: str) -> list[str]:
    """Comma list of names, each one of ``choices`` (suggesting close names when not)."""
    import difflib

    names = [t.strip() for t in text.split(",") if t.strip()]
    for name in names:
        if name not in choices:
            close = difflib.get_close_matches(name, choices, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; choose from {', '.join(choices)}"
            raise typer.BadParameter(f"unknown {name!r}{hint}", param_hint=option)
    if not names:
        raise typer.BadParameter("empty list", param_hint=option)
    return names


def resolved_options(ctx: typer.Context) -> dict[str, Any]:
    """The command's options after parsing and defaults: what provenance records."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in ctx.params.items()}


def command_line(ctx: typer.Context) -> str:
    return ctx.command_path


def parse_frame_range(text: str | None, option: str = "--frames") -> tuple[int | None, int | None] | None:
    """``START:STOP`` frame range (STOP excluded, either side may be empty; Python slice rules).

    >>> parse_frame_range("10:20"), parse_frame_range(":50"), parse_frame_range("5:")
    ((10, 20), (None, 50), (5, None))
    """
    if text is None:
        return None
    parts = text.split(":")
    if len(parts) != 2:
        raise typer.BadParameter(f"{text!r}: expected START:STOP, e.g. 100:400", param_hint=option)
    bounds: list[int | None] = []
    for part in parts:
        part = part.strip()
        if not part:
            bounds.append(None)
            continue
        try:
            bounds.append(int(part))
        except ValueError:
            raise typer.BadParameter(f"{text!r}: {part!r} is not an integer", param_hint=option) from None
    start, stop = bounds
    if start is not None and stop is not None and start >= 0 and stop >= 0 and stop <= start:
        raise typer.BadParameter(f"{text!r}: STOP must be > START", param_hint=option)
    return start, stop


def parse_name_list(text: str | None, option: str) -> tuple[str, ...] | None:
    """Comma-separated names (``flow,volume``) → tuple; None when not given."""
    if text is None:
        return None
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    if not names:
        raise typer.BadParameter("empty list", param_hint=option)
    return names

# ---- training options (train, distill; every task) --------------------------------------------

Task = Annotated[str, typer.Option("--task", help="What to learn: classify (frames → classes) or keypoints.")]
ValPath = Annotated[Optional[Path], typer.Option("--val", help="Validation dataset (early stopping, best.pt, ensemble weights).")]
RunOut = Annotated[Path, typer.Option("--out", "-o", help="Run folder: config.json, metrics.csv, curves.png, best.pt, last.pt.")]
Arch = Annotated[str, typer.Option("--arch", help="Backbone by name: small_cnn, resnet18, resnet50, mobilenet_v3_small, ...")]
Weights = Annotated[str, typer.Option("--weights", help="Initial backbone weights: none; a torchvision weights name (IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT or e.g. ResNet50_Weights.IMAGENET1K_V1; imagenet = DEFAULT) read from the torch cache ($TORCH_HOME/hub/checkpoints, never downloaded); or a .pt/.pth file.")]
Frames = Annotated[int, typer.Option("--frames", min=1, help="K consecutive frames of one sequence as K input channels.")]
Epochs = Annotated[int, typer.Option("--epochs", min=1, help="Maximum epochs.")]
LearningRate = Annotated[float, typer.Option("--lr", min=0.0, help="Learning rate.")]
WeightDecay = Annotated[float, typer.Option("--weight-decay", min=0.0, help="Weight decay (decoupled for AdamW).")]
Optimizer = Annotated[str, typer.Option("--optimizer", help="adamw or sgd (momentum 0.9, Nesterov).")]
Scheduler = Annotated[str, typer.Option("--scheduler", help="plateau (ReduceLROnPlateau on the monitored metric), cosine or none.")]
Patience = Annotated[int, typer.Option("--patience", min=0, help="Early stopping: epochs without improvement (0 = off).")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last.pt, exactly.")]


# ---- threshold / augment (issue 4) ----------------------------------------------------------


def parse_percentiles(text: str, option: str = "--percentiles") -> tuple[float, float]:
    """``P_LO:P_HI`` with 0 ≤ P_LO < P_HI ≤ 100, e.g. ``1:99``."""
    lo, hi = parse_interval(text, option)
    if lo < 0 or hi > 100:
        raise typer.BadParameter(f"{text!r}: percentiles must lie in 0..100", param_hint=option)
    return lo, hi


def parse_span(text: str, option: str, *, minimum: float | None = None) -> tuple[float, float]:
    """``LO:HI`` with LO ≤ HI (equal values fix the parameter), or one number ``V`` (= V:V)."""
    parts = text.split(":")
    if len(parts) not in (1, 2):
        raise typer.BadParameter(f"{text!r}: expected LO:HI", param_hint=option)
    values = [_float(p, option) for p in parts]
    lo, hi = values[0], values[-1]
    if lo > hi:
        raise typer.BadParameter(f"{text!r}: LO must be ≤ HI", param_hint=option)
    if minimum is not None and lo < minimum:
        raise typer.BadParameter(f"{text!r}: values must be ≥ {minimum:g}", param_hint=option)
    return lo, hi


def check_fraction(value: float, option: str, *, allow_zero: bool = True) -> float:
    """A probability or fraction in [0, 1] (or (0, 1] when ``allow_zero`` is False)."""
    if not (0 <= value <= 1) or (not allow_zero and value == 0):
        bounds = "[0, 1]" if allow_zero else "(0, 1]"
        raise typer.BadParameter(f"{value:g} is outside {bounds}", param_hint=option)
    return value
# ---- keypoint options (train/distill --task keypoints, eval --metric oks) ---------------------
InputSize = Annotated[Optional[str], typer.Option("--input-size", help="--task keypoints: person crop HxW, multiples of 16 (default 256x192, the paper's → 64x48 heatmaps; CPU demos 128x96). --task classify: resize every frame to HxW (e.g. 256x256) inside the model, so predict/eval resize the same.", show_default=False)]
Stem = Annotated[str, typer.Option("--stem", help="--task classify, torchvision backbones: sum (grey/K-frame input into the first convolution, its ImageNet RGB filters summed) or conv2x3 (BreathAI: two learned 3x3 convolutions in→3→3 before the untouched ImageNet stem; 30 + 84 parameters for grey input).")]
Grey = Annotated[bool, typer.Option("--grey", help="--task classify: convert 3-channel (RGB / pseudo-colour) frames to one grey channel (BT.601 luma); without it they feed the network as 3 channels.")]
Sigma = Annotated[float, typer.Option("--sigma", min=0.1, help="--task keypoints: σ of the Gaussian heatmap targets, heatmap pixels.")]
HeatmapLoss = Annotated[str, typer.Option("--loss", help="--task keypoints: heatmap loss, adaptive_wing (α 2.1, ω 14, ε 1, θ 0.5) or mse.")]
Side = Annotated[str, typer.Option("--side", help="--task keypoints: frames (the dataset's frames, e.g. thermal) or rgb (its paired RGB frames: a teacher).")]
TeacherWeights = Annotated[Optional[Path], typer.Option("--teacher-weights", help="--task keypoints with --arch vit_b: an official ViTPose-B / MMPose .pth to start from.", show_default=False)]
FlipTest = Annotated[bool, typer.Option("--flip-test/--no-flip-test", help="--task keypoints: average with the mirrored crop's heatmaps (left/right swapped).")]
Augment = Annotated[bool, typer.Option("--augment/--no-augment", help="--task keypoints: random scale, rotation and flip (keypoints follow, left/right swapped).")]
Subjects = Annotated[Optional[str], typer.Option("--subjects", help="Use only these subjects' rows (comma list).")]
ExcludeSubjects = Annotated[Optional[str], typer.Option("--exclude-subjects", help="Leave out these subjects' rows (comma list), e.g. the test subjects.")]
MapWeight = Annotated[float, typer.Option("--map-weight", min=0.0, help="--task keypoints: Adaptive Wing's weighted loss map W (foreground pixels × (W + 1); the paper's 10; 0 = off).")]
ColorJitter = Annotated[bool, typer.Option("--color-jitter/--no-color-jitter", help="--task keypoints on RGB, with --augment: also random brightness, contrast, saturation, channel order and grey.")]
Adapter = Annotated[bool, typer.Option("--adapter/--no-adapter", help="--task keypoints: a learned 1×1 projection from the student's latent to the teacher's also when their widths agree.")]
LatentNorm = Annotated[str, typer.Option("--latent-norm", help="--task keypoints: none (L1 on raw latents) or channel (L1 on latents standardised by the teacher's per-channel mean/std).")]
