"""``thermcli distill --task classify``: Hinton knowledge distillation from a trained teacher into a
(smaller) student, ``α·T²·KL(teacher_T ‖ student_T) + (1−α)·CE`` — the same training loop and
loss registry as ``train``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from thermcli.errors import UsageError


def run_from_cli(params: dict[str, Any], *, options: dict[str, Any], quiet: bool) -> dict[str, Any]:
    from thermcli.stages.train_classify import config_from_params, run_train_classify

    if params.get("temperature", 1.0) <= 0:
        raise UsageError("must be > 0", param="--temperature")
    params = {**params, "arch": params["student"]}
    cfg, loop = config_from_params(params, teacher=str(params["teacher"]))
    val = Path(params["val"]) if params.get("val") else None
    summary = run_train_classify(Path(params["train"]), val, Path(params["out"]), cfg=cfg, loop=loop,
                                 force=params["force"], resume=params["resume"], options=options, quiet=quiet)
    return {**summary, "teacher": str(params["teacher"]), "temperature": cfg.temperature, "alpha": cfg.alpha}
