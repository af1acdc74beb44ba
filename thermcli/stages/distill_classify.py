"""``thermcli distill --task classify``: Hinton knowledge distillation from a trained teacher into a
(smaller) student, ``α·T²·KL(teacher_T ‖ student_T) + (1−α)·CE`` — the same training loop and
loss registry as ``train``: a :class:`~thermcli.stages.train_classify.ClassifyJob` whose config
names the teacher."""

from __future__ import annotations

from typing import Any

from thermcli.stages.train_classify import ClassifyJob


def run(job: ClassifyJob, *, options: dict[str, Any], quiet: bool = False) -> dict[str, Any]:
    from thermcli.stages import train_classify

    return train_classify.run(job, options=options, quiet=quiet)
