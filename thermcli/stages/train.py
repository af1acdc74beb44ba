"""The tasks of ``train`` / ``distill``: ``thermcli train --task T`` runs a typed job of
``thermcli.stages.train_T`` (``distill``: ``distill_T``) through the module's ``run(job, *,
options, quiet)``; the CLI builds the job (a frozen dataclass that validates its own option
combinations). Adding a task is adding those modules and the job builder in the CLI.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil

from thermcli.errors import UsageError


def available_tasks(kind: str) -> list[str]:
    import thermcli.stages as package

    prefix = f"{kind}_"
    return sorted(info.name[len(prefix):] for info in pkgutil.iter_modules(package.__path__) if info.name.startswith(prefix))


def task_stage(kind: str, task: str):
    tasks = available_tasks(kind)
    if task not in tasks:
        close = difflib.get_close_matches(task, tasks, n=2)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; available: {', '.join(tasks)}"
        raise UsageError(f"unknown task {task!r}{hint}", param="--task")
    return importlib.import_module(f"thermcli.stages.{kind}_{task}")
