"""``thermcli augment``: N thermal-aware augmented copies of every frame, replayable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from thermcli.cli.options import (
    BatchSize,
    Force,
    InputPath,
    OutputPath,
    Seed,
    Shard,
    Workers,
    check_fraction,
    parse_shard,
    parse_span,
    resolved_options,
)


def augment(
    ctx: typer.Context,
    src: InputPath,
    out: OutputPath,
    copies: Annotated[int, typer.Option("--copies", "-n", min=1, help="Augmented copies of every frame.")] = 1,
    seed: Seed = 0,
    keep_original: Annotated[bool, typer.Option("--keep-original", help="Also write each unaugmented frame (aug_copy −1).")] = False,
    replay: Annotated[
        Optional[Path],
        typer.Option("--replay", help="Re-apply the parameters recorded in an earlier augment output (same IN).", show_default=False),
    ] = None,
    rotate: Annotated[float, typer.Option("--rotate", min=0, help="Max |rotation| in degrees.")] = 10.0,
    scale: Annotated[str, typer.Option("--scale", help="Zoom range LO:HI.")] = "0.9:1.1",
    translate: Annotated[float, typer.Option("--translate", help="Max |shift| as a fraction of width/height.")] = 0.05,
    flip: Annotated[float, typer.Option("--flip", help="Probability of a horizontal flip (left/right keypoints swapped).")] = 0.5,
    crop: Annotated[float, typer.Option("--crop", help="Smallest random-crop side as a fraction of the frame (1 = no crop).")] = 1.0,
    offset: Annotated[float, typer.Option("--offset", help="Max |offset| in °C/K (counts for raw frames).")] = 1.0,
    gain: Annotated[str, typer.Option("--gain", help="Gain range LO:HI for °C/K/counts (about 0 °C).")] = "0.95:1.05",
    brightness: Annotated[float, typer.Option("--brightness", help="8-bit: max |brightness shift| in grey levels.")] = 20.0,
    contrast: Annotated[str, typer.Option("--contrast", help="8-bit: contrast range LO:HI (about 128).")] = "0.8:1.2",
    noise: Annotated[
        Optional[float],
        typer.Option("--noise", help="Max σ of sensor noise: mK for °C/K [50], counts or grey levels otherwise [2].", show_default=False),
    ] = None,
    fpn: Annotated[float, typer.Option("--fpn", help="Max σ of fixed-pattern row/column noise (mK for °C/K).")] = 0.0,
    blur: Annotated[float, typer.Option("--blur", help="Probability of a Gaussian blur.")] = 0.0,
    blur_sigma: Annotated[str, typer.Option("--blur-sigma", help="Blur σ range in pixels LO:HI.")] = "0.5:1.5",
    lowres: Annotated[float, typer.Option("--lowres", help="Probability of down-then-up sampling (low-resolution sensor).")] = 0.0,
    lowres_factor: Annotated[str, typer.Option("--lowres-factor", help="Down-sampling factor range LO:HI.")] = "2:4",
    invert: Annotated[float, typer.Option("--invert", help="Probability of white-hot ↔ black-hot inversion.")] = 0.0,
    border: Annotated[str, typer.Option("--border", help="Pixels from outside the frame: reflect, replicate or constant (NaN / 0).")] = "reflect",
    batch_size: BatchSize = 64,
    workers: Workers = 1,
    shard: Shard = None,
    force: Force = False,
) -> None:
    """Thermal-aware augmentation, replayable: N copies of every frame.

    Geometric (rotation, scale, shift, flip, crop; keypoints and boxes follow) and photometric in the frame's unit (offset/gain, noise in mK, fixed-pattern
    noise, blur, low-resolution, inversion). Parameters are drawn per output row from
    (--seed, row), stored in columns aug_*, and replay exactly with --replay.

    Example: thermcli augment --copies 4 --seed 0 sample_data/breathing.h5 out/breathing_aug.h5
    """
    from thermcli.errors import UsageError
    from thermcli.io import check_output
    from thermcli.ops.augment import BORDERS
    from thermcli.progress import say
    from thermcli.stages.augment import AugmentSettings, run_augment

    if border not in BORDERS:
        raise UsageError(f"unknown {border!r}; choose from {', '.join(BORDERS)}", param="--border")
    for value, name in ((translate, "--translate"), (fpn, "--fpn"), (offset, "--offset"), (brightness, "--brightness")):
        if value < 0:
            raise UsageError(f"must be ≥ 0, got {value:g}", param=name)
    if noise is not None and noise < 0:
        raise UsageError(f"must be ≥ 0, got {noise:g}", param="--noise")
    # Geometry beyond these sends OpenCV's border extrapolation into loops that run for minutes
    # (a shift of 1e9 frame widths) or forever (inf): absurd values are usage errors.
    spans = {name: parse_span(text, name, minimum=low) for name, text, low in (
        ("--scale", scale, 1e-3), ("--gain", gain, 0), ("--contrast", contrast, 0),
        ("--blur-sigma", blur_sigma, 1e-3), ("--lowres-factor", lowres_factor, 1))}
    for name, value, limit in (("--rotate", rotate, 180.0), ("--translate", translate, 1.0),
                               ("--scale", spans["--scale"][1], 10.0), ("--blur-sigma", spans["--blur-sigma"][1], 50.0),
                               ("--lowres-factor", spans["--lowres-factor"][1], 64.0), ("--gain", spans["--gain"][1], 1e3),
                               ("--contrast", spans["--contrast"][1], 1e3)):
        if value > limit:
            raise UsageError(f"must be ≤ {limit:g}, got {value:g}", param=name)
    settings = AugmentSettings(
        rotate=rotate,
        scale=spans["--scale"],
        translate=translate,
        flip=check_fraction(flip, "--flip"),
        crop=check_fraction(crop, "--crop", allow_zero=False),
        offset=offset,
        gain=spans["--gain"],
        brightness=brightness,
        contrast=spans["--contrast"],
        noise=noise,
        fpn=fpn,
        blur=check_fraction(blur, "--blur"),
        blur_sigma=spans["--blur-sigma"],
        lowres=check_fraction(lowres, "--lowres"),
        lowres_factor=spans["--lowres-factor"],
        invert=check_fraction(invert, "--invert"),
        border=border,
    )
    shard_kn = parse_shard(shard)
    if replay is not None and not replay.exists():
        from thermcli.errors import DataError

        raise DataError("no such file or folder", path=str(replay))
    check_output(out, force=force, inputs=[src, replay])
    rows = run_augment(
        src,
        out,
        settings,
        seed=seed,
        copies=copies,
        keep_original=keep_original,
        options=resolved_options(ctx),
        replay=replay,
        batch_size=batch_size,
        workers=workers,
        shard=shard_kn,
        force=force,
    )
    say(f"wrote {rows} rows to {out}")
