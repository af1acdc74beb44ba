"""One factory for every architecture, timm-style: ``create_model("resnet18", in_chans=1, num_classes=2)``."""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from typing import Any, Callable

from thermcli.errors import UsageError

_REGISTRY: dict[str, Callable[..., Any]] = {}
_INFRA_MODULES = {"registry", "checkpoint", "weights", "vitpose"}
_loaded = False


def register(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register a model factory under ``name``."""

    def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = factory
        return factory

    return decorate


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    import thermcli.models as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in _INFRA_MODULES and not info.name.startswith("_"):
            importlib.import_module(f"thermcli.models.{info.name}")
    _loaded = True


def list_models() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def check_name(name: str, param: str = "--arch") -> None:
    """Raise a usage error suggesting close names when ``name`` is not registered."""
    _load_all()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(_REGISTRY))}"
        raise UsageError(f"unknown architecture {name!r}{hint}", param=param)


def create_model(name: str, **kwargs: Any) -> Any:
    """Build the registered model ``name`` with ``kwargs`` (the checkpoint stores both)."""
    check_name(name)
    return _REGISTRY[name](**kwargs)
