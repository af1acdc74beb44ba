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
from thermcli.io.jsonable import jsonable
from thermcli import interrupt

_HASH_CHUNK = 1 << 20


def sha256_path(path: str | os.PathLike) -> str:
    """SHA-256 of a file, or of a folder (its files' relative paths and hashes, sorted).

    Files of ``HASH_CACHE_MIN_BYTES`` or more are hashed once per version: the digest is kept in
    the hash cache (see :func:`hash_cache_dir`) under the file's path, device, inode, size and
    modification/change times (nanoseconds), as DVC and git's index do, so re-running a pipeline
    over the same multi-GB input does not read it again. Any change to the file changes the key."""
    path = Path(path)
    if path.is_dir():
        digest = hashlib.sha256()
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(child.relative_to(path)).encode())
            digest.update(sha256_path(child).encode())
        return digest.hexdigest()
    entry = _cache_entry(path)
    if entry is not None:
        try:
            cached = entry.read_text().strip()
            if len(cached) == 64 and all(c in "0123456789abcdef" for c in cached):
                return cached
        except OSError:
            pass
    value = _sha256_file(path)
    if entry is not None:
        _store(entry, value)
    return value


HASH_CACHE_MIN_BYTES = 64 << 20


def hash_cache_dir() -> Path | None:
    """Where input digests are cached: ``$THERMCLI_CACHE_DIR``, else ``$XDG_CACHE_HOME/thermcli``,
    else ``~/.cache/thermcli``; ``THERMCLI_CACHE_DIR=off`` (or empty) turns the cache off."""
    explicit = os.environ.get("THERMCLI_CACHE_DIR")
    if explicit is not None:
        return None if explicit.strip().lower() in ("", "off", "0", "none") else Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "thermcli"


def _cache_entry(path: Path) -> Path | None:
    root = hash_cache_dir()
    if root is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    if st.st_size < HASH_CACHE_MIN_BYTES:
        return None
    key = f"{path.resolve()}\0{st.st_dev}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}"
    return root / "sha256" / hashlib.sha256(key.encode()).hexdigest()


def _store(entry: Path, value: str) -> None:
    """Write one cache entry atomically; a cache that cannot be written is silently skipped."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
        tmp.write_text(value + "\n")
        os.replace(tmp, entry)
    except OSError:
        pass


def _sha256_file(path: Path) -> str:
    """The file's SHA-256, read into one reused buffer (a memory map would count the whole file
    in the process's RSS, which cluster schedulers watch)."""
    digest = hashlib.sha256()
    buffer = bytearray(4 * _HASH_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as fh:
        while size := fh.readinto(buffer):
            interrupt.check()  # a stop, or a cancelled background hash (stages.blocks.Background)
            digest.update(view[:size])
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of the stack, without importing anything heavy that is not loaded yet."""
    versions = {"thermcli": thermcli.__version__, "python": platform.python_version()}
    for name in ("numpy", "h5py", "cv2", "torch", "torchvision", "sklearn"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = str(getattr(module, "__version__", "?"))
    return versions


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
                prov = json.loads(text) if text else None
                return None if provenance_problem(prov) else prov  # never copy a malformed record
        if suffix == ".json":
            data = json.loads(path.read_text())
            return data.get("provenance") if isinstance(data, dict) else None
        if suffix == ".pt":
            from thermcli.io.checkpoint import read_checkpoint_provenance

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
        "options": jsonable(options),
        "seed": seed,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": package_versions(),
        "inputs": records,
    }
    if notes:
        prov["notes"] = jsonable(notes)
    return prov


def provenance_problem(prov: Any, depth: int = 0) -> str | None:
    """What is wrong with a provenance record read from a file, or None when it has the shape
    thermcli writes: an object whose ``inputs`` (if any) is a list of objects, each with a string
    ``path`` and a nested provenance record (or null). A malformed record was copied into every
    derived output, and ``info`` then failed on all of them."""
    if prov is None or prov == {}:
        return None
    if not isinstance(prov, dict):
        return f"provenance is a JSON {type(prov).__name__}, not an object"
    if depth > 64:
        return "provenance nests deeper than 64 levels"
    for key in ("command", "created"):
        if key in prov and not isinstance(prov[key], (str, type(None))):
            return f"provenance field {key!r} is not a string"
    inputs = prov.get("inputs", [])
    if not isinstance(inputs, list):
        return "provenance field 'inputs' is not a list"
    for i, record in enumerate(inputs):
        if not isinstance(record, dict):
            return f"provenance inputs[{i}] is not an object"
        if not isinstance(record.get("path", ""), str) or not isinstance(record.get("sha256", ""), (str, type(None))):
            return f"provenance inputs[{i}] has a non-string path or sha256"
        inner = provenance_problem(record.get("provenance"), depth + 1)
        if inner is not None:
            return f"{inner} (in inputs[{i}])"
    return None


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
