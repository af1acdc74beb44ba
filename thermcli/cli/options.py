"""Options shared by several commands, defined once, and parsers for their text forms.

The parsers are ``thermcli.parsing``'s, wrapped to raise ``typer.BadParameter`` so the message
names the option and the exit code is 2.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Annotated, Any, Callable, Optional, TypeVar

import typer

from thermcli import parsing
from thermcli.errors import UsageError

T = TypeVar("T")

# ---- shared options -------------------------------------------------------------------------

Force = Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing output.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of every random step (recorded in the output).")]
Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
Workers = Annotated[int, typer.Option("--workers", min=1, callback=lambda value: check_workers(value), help="Parallel worker processes (at most twice the CPU cores).")]
Shard = Annotated[
    Optional[str],
    typer.Option("--shard", help="Process only slice K of N (0-based, e.g. 0/4); join with `thermcli merge`."),
]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Frames per streamed batch.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
InputPath = Annotated[Path, typer.Argument(help="Input dataset: .h5 file or PNG folder.", show_default=False)]
OutputPath = Annotated[Path, typer.Argument(help="Output: .h5 file or PNG folder.", show_default=False)]


# ---- parsers --------------------------------------------------------------------------------
# The parsers themselves live in ``thermcli.parsing`` (below the CLI, shared with the library) and
# raise ``UsageError``; here they raise typer's ``BadParameter`` naming the option, as commands want.


def _bad_parameter(parser: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(parser)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return parser(*args, **kwargs)
        except UsageError as exc:
            raise typer.BadParameter(exc.message, param_hint=exc.param) from None

    return wrapper


parse_levels = _bad_parameter(parsing.parse_levels)
parse_interval = _bad_parameter(parsing.parse_interval)
parse_size = _bad_parameter(parsing.parse_size)
parse_duration = _bad_parameter(parsing.parse_duration)
parse_shard = _bad_parameter(parsing.parse_shard)
parse_choice_list = _bad_parameter(parsing.parse_choice_list)
parse_frame_range = _bad_parameter(parsing.parse_frame_range)
parse_name_list = _bad_parameter(parsing.parse_name_list)
parse_percentiles = _bad_parameter(parsing.parse_percentiles)
parse_span = _bad_parameter(parsing.parse_span)
check_fraction = _bad_parameter(parsing.check_fraction)
shard_bounds = parsing.shard_bounds


def resolved_options(ctx: typer.Context) -> dict[str, Any]:
    """The command's options after parsing and defaults: what provenance records."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in ctx.params.items()}


def command_line(ctx: typer.Context) -> str:
    return ctx.command_path


# ---- training options (train, distill; every task) --------------------------------------------

Task = Annotated[str, typer.Option("--task", help="What to learn: classify (frames → classes), keypoints or detect (boxes + box_classes).")]
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
ColorJitter = Annotated[bool, typer.Option("--color-jitter/--no-color-jitter", help="--task keypoints on RGB and --task detect, with --augment: also random brightness, contrast, saturation, channel order and grey.")]
# classify model options shared by train and distill (the student, for distill)
Window = Annotated[str, typer.Option("--window", help="With --frames K: causal (frame i and the K−1 before it) or centered (frames around i; offline analysis).")]
Finetune = Annotated[str, typer.Option("--finetune", help="full, frozen (backbone fixed), last:N (top N stages) or gradual:E (one more stage every E epochs).")]
Balance = Annotated[str, typer.Option("--balance", help="Class imbalance: weights (inverse frequency in the loss), resample or none.")]
ContrastiveWeight = Annotated[float, typer.Option("--contrastive-weight", min=0.0, help="Weight of the contrastive term on the embeddings (0 = off).")]
Margin = Annotated[float, typer.Option("--margin", min=0.0, help="Contrastive margin on L2-normalised embeddings (0–2).")]
Dropout = Annotated[float, typer.Option("--dropout", min=0.0, max=1.0, help="Dropout before the classes layer.")]
Norm = Annotated[Optional[str], typer.Option("--norm", help="small_cnn normalisation layers: batch, group or none.")]
Width = Annotated[Optional[int], typer.Option("--width", min=1, help="small_cnn channels of its first stage (16 by default).")]
Adapter = Annotated[bool, typer.Option("--adapter/--no-adapter", help="--task keypoints: a learned 1×1 projection from the student's latent to the teacher's also when their widths agree.")]
LatentNorm = Annotated[str, typer.Option("--latent-norm", help="--task keypoints: none (L1 on raw latents) or channel (L1 on latents standardised by the teacher's per-channel mean/std).")]


# ---- numbers of every command (issue 23) -----------------------------------------------------
# Checked once for every command (thermcli.cli.main.ThermcliCommand), after parsing and before
# the command's body: a non-finite number (inf, nan) or an absurd magnitude in any float option
# is a usage error naming the option, never a spin inside OpenCV or an error blamed on a file.

ABSURD_MAGNITUDE = 1e12


def check_numbers(ctx: typer.Context) -> None:
    """Refuse ``inf``/``nan`` and magnitudes above :data:`ABSURD_MAGNITUDE` in every float
    parameter of ``ctx``'s command (lists and tuples of floats too): exit 2 naming the option."""
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        values = value if isinstance(value, (list, tuple)) else (value,)
        for number in values:
            if not isinstance(number, float):
                continue
            hint = param.opts[0] if getattr(param, "opts", None) else (param.name or "").upper()
            if not math.isfinite(number):
                raise typer.BadParameter(f"{number!r} is not a finite number", ctx=ctx, param_hint=hint)
            if abs(number) > ABSURD_MAGNITUDE:
                raise typer.BadParameter(f"{number:g} is absurdly large (|value| ≤ {ABSURD_MAGNITUDE:g})", ctx=ctx, param_hint=hint)


def check_workers(value: int) -> int:
    """``--workers`` callback: 1 ≤ N ≤ :func:`max_workers`."""
    from thermcli.stages.blocks import max_workers

    limit = max_workers()
    if value is not None and not 1 <= value <= limit:
        raise typer.BadParameter(f"{value} is outside 1..{limit} (twice the usable CPU cores, at least 4)")
    return value
