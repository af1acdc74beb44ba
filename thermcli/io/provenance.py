"""Provenance: what made an artifact, from what, with which options and versions.

Every output records the command, its fully resolved options, the seed, the package versions,
and each input's path, SHA-256 and the input's own provenance, so ``thermcli info`` can walk the
lineage back to the camera files.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any, Iterable

import thermcli

_HASH_CHUNK = 1 << 20


def sha256_path(path: str | os.PathLike) -> str:
    """SHA-256 of a file, or of a folder (its files' relative paths and hashes, sorted)."""
    path = Path(path)
    if path.is_dir():
        digest = hashlib.sha256()
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(child.relative_to(path)).encode())
            digest.update(sha256_path(child).encode())
        return digest.hexdigest()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of the stack, without importing anything heavy that is not loaded yet."""
    versions = {"thermcli": thermcli.__version__, "python": platform.python_version()}
    for name in ("numpy", "h5py", "cv2", "torch", "torchvision", "sklearn"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = str(getattr(module, "__version__", "?"))
    return versions


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item) and getattr(value, "shape", None) == ():
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "value") and hasattr(value, "name"):  # enums
        return value.value
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def read_provenance(path: str | os.PathLike) -> dict[str, Any] | None:
    """The provenance stored in an artifact, or None when it holds none (camera files)."""
    path = Path(path)
    try:
        if path.is_dir():
            for sidecar in (path / "thermcli.json", path / "config.json"):
                if sidecar.is_file():
                    data = json.loads(sidecar.read_text())
                    prov = data.get("meta", {}).get("provenance") or data.get("provenance")
                    if prov:
                        return prov
            return None
        suffix = path.suffix.lower()
        if suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as fh:
                text = fh.attrs.get("provenance")
                return json.loads(text) if text else None
        if suffix == ".json":
            data = json.loads(path.read_text())
            return data.get("provenance") if isinstance(data, dict) else None
        if suffix == ".pt":
            from thermcli.models.checkpoint import read_checkpoint_provenance

            return read_checkpoint_provenance(path)
    except Exception:  # lineage is best effort: an unreadable ancestor must not fail the command
        return None
    return None


def make_provenance(
    command: str,
    options: dict[str, Any],
    *,
    inputs: Iterable[str | os.PathLike] = (),
    seed: int | None = None,
    notes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Provenance record for an output: command, resolved options, seed, versions, inputs."""
    records = []
    for item in inputs:
        item_path = Path(item)
        record: dict[str, Any] = {"path": str(item_path.resolve())}
        if item_path.exists():
            record["sha256"] = sha256_path(item_path)
            parent = read_provenance(item_path)
            if parent:
                record["provenance"] = parent
        records.append(record)
    prov: dict[str, Any] = {
        "command": command,
        "options": _jsonable(options),
        "seed": seed,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": package_versions(),
        "inputs": records,
    }
    if notes:
        prov["notes"] = _jsonable(notes)
    return prov


def lineage(prov: dict[str, Any] | None, depth: int = 0) -> list[tuple[int, str]]:
    """Flatten a provenance tree into (depth, line) rows, newest first."""
    if not prov:
        return []
    rows = [(depth, f"{prov.get('command', '?')}  ({prov.get('created', '?')})")]
    for record in prov.get("inputs", []):
        sha = record.get("sha256", "")
        rows.append((depth + 1, f"{record.get('path')}  sha256:{sha[:12]}"))
        rows.extend(lineage(record.get("provenance"), depth + 2))
    return rows
