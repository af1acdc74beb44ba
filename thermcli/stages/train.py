"""Dispatch ``train`` / ``distill`` to the task's stage module.

``thermcli train --task T`` calls ``thermcli.stages.train_T.run_from_cli(params)`` and
``thermcli distill --task T`` calls ``thermcli.stages.distill_T.run_from_cli(params)``; ``params``
is every CLI option by name (the resolved options). Adding a task is adding those modules.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from typing import Any

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


def run_task(kind: str, task: str, params: dict[str, Any], *, options: dict[str, Any], quiet: bool) -> dict[str, Any]:
    return task_stage(kind, task).run_from_cli(params, options=options, quiet=quiet)
