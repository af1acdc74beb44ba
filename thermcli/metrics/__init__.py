"""Evaluation metrics, grouped in families; ``thermcli eval --metric`` dispatches by family.

A family is a module in this package that defines::

    FAMILY = "classification"
    METRICS = ("accuracy", "balanced_accuracy", ...)    # names accepted by --metric
    GATES = ("accuracy", "f1", ...)                       # keys --fail-under may name (optional)
    def evaluate(context, metrics: list[str]) -> dict:   # context: thermcli.stages.evaluate.EvalContext
    def render(result: dict) -> list[rich tables]        # optional: the terminal view

Modules are discovered on first use (``classification``, ``cost``, ``icc``), so adding a file adds
a family. The COCO families (``oks``, ``bbox``) are wired in ``thermcli.stages.evaluate_coco``:
their numeric cores (``oks``, ``bbox``, ``cocoeval``) here know nothing of the CLI's context.
"""

from __future__ import annotations

from types import ModuleType


def families() -> dict[str, ModuleType]:
    """Metric family modules by FAMILY name."""
    from thermcli.discovery import plugin_modules

    return plugin_modules("thermcli.metrics", "FAMILY", "evaluate")


def metric_index(by_family: dict[str, ModuleType] | None = None) -> dict[str, str]:
    """metric name → family name (a family's own name selects all its metrics), over
    ``by_family`` (default: :func:`families`)."""
    index: dict[str, str] = {}
    for family, module in (families() if by_family is None else by_family).items():
        index[family] = family
        for name in getattr(module, "METRICS", ()):
            index.setdefault(name, family)
    return index
