"""``merge``: join datasets written with ``--shard K/N`` (or any compatible datasets) into one,
streamed, keeping every part's provenance."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from thermcli.errors import DataError, UsageError
from thermcli.io import create_writer, make_provenance, open_dataset

# options that may differ between the shards of one job
_PER_SHARD_OPTIONS = ("shard", "workers", "batch_size", "force", "out", "src")
# attrs that say where a part came from, not what its data mean: parts may differ in them, and
# the merged dataset lists every part's values (list-valued ones joined, others one per part)
_PROVENANCE_ATTRS = ("sources", "recordings", "skipped")


def _comparable_meta(meta) -> dict[str, Any]:
    data = meta.to_json()
    data.pop("provenance", None)
    data["attrs"] = {k: v for k, v in data.get("attrs", {}).items() if k != "shard" and k not in _PROVENANCE_ATTRS}
    return data


def _first_difference(a: Any, b: Any, where: str = "") -> tuple[str, Any, Any] | None:
    """(dotted field name, value in a, value in b) of the first difference, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            name = f"{where}.{key}" if where else str(key)
            if key not in a or key not in b:
                return name, a.get(key, "(absent)"), b.get(key, "(absent)")
            found = _first_difference(a[key], b[key], name)
            if found is not None:
                return found
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            found = _first_difference(x, y, f"{where}[{i}]")
            if found is not None:
                return found
        return None
    return None if a == b else (where, a, b)


def _short_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _merged_provenance_attrs(readers) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for key in _PROVENANCE_ATTRS:
        values = [r.meta.attrs.get(key) for r in readers]
        if all(v is None for v in values):
            continue
        if all(isinstance(v, list) or v is None for v in values):
            merged[key] = [item for v in values for item in (v or [])]
        else:
            merged[key] = values
    return merged


def _job_signature(meta) -> tuple:
    """What must agree between shards of one job: the command, its options except the
    per-shard ones, and the inputs' SHA-256."""
    prov = meta.provenance or {}
    options = {k: v for k, v in (prov.get("options") or {}).items() if k not in _PER_SHARD_OPTIONS}
    inputs = tuple(r.get("sha256") for r in prov.get("inputs", []))
    return prov.get("command"), repr(sorted(options.items())), inputs


def run_merge(parts: list[Path], out: Path, *, options: dict[str, Any], batch_size: int = 256, force: bool = False) -> int:
    """Concatenate ``parts`` into ``out``. Shards (``attrs["shard"]``) are put in shard order and
    must be complete (every K of N once, the same job); other datasets are joined in the order
    given. Returns the number of rows written."""
    if not parts:
        raise UsageError("give at least one dataset to merge", param="PARTS")
    with contextlib.ExitStack() as stack:
        readers = [stack.enter_context(open_dataset(p)) for p in parts]
        first = readers[0]
        for path, reader in zip(parts, readers):
            if reader.n == 0:
                raise DataError("dataset is empty (0 frames)", path=str(path))
            difference = _first_difference(_comparable_meta(first.meta), _comparable_meta(reader.meta))
            if difference is not None:
                name, want, got = difference
                raise DataError(
                    f"metadata field {name} differs: {_short_value(got)} here, {_short_value(want)} in {parts[0]}", path=str(path)
                )
            if reader.frame_shape != first.frame_shape or reader.frame_dtype != first.frame_dtype:
                raise DataError(f"frames {reader.frame_shape} {reader.frame_dtype} differ from {parts[0]}'s {first.frame_shape} {first.frame_dtype}", path=str(path))
            if reader.fields != first.fields or reader.column_names != first.column_names:
                raise DataError(f"per-frame fields differ from {parts[0]}'s", path=str(path))
        shards = [r.meta.attrs.get("shard") for r in readers]
        order = list(range(len(parts)))
        if any(s is not None for s in shards):
            missing = [p for p, s in zip(parts, shards) if s is None]
            if missing:
                raise DataError("is not a shard, but other inputs are (written with --shard K/N)", path=str(missing[0]))
            count = shards[0]["count"]
            for path, reader, s in zip(parts, readers, shards):
                if s["count"] != count:
                    raise DataError(f"is shard {s['index']}/{s['count']}, the others are of {count}", path=str(path))
                if _job_signature(reader.meta) != _job_signature(first.meta):
                    raise DataError(f"comes from a different command, options or input than {parts[0]}", path=str(path))
            seen: dict[int, Path] = {}
            for path, s in zip(parts, shards):
                if s["index"] in seen:
                    raise DataError(f"shard {s['index']}/{count} given twice (also {seen[s['index']]})", path=str(path))
                seen[s["index"]] = path
            absent = sorted(set(range(count)) - set(seen))
            if absent:
                raise UsageError(f"shard {absent[0]}/{count} is missing ({len(parts)} of {count} given)", param="PARTS")
            order = sorted(order, key=lambda i: shards[i]["index"])
        attrs = {k: v for k, v in first.meta.attrs.items() if k != "shard"}
        attrs.update(_merged_provenance_attrs([readers[i] for i in order]))
        if shards[0] is not None:
            attrs["merged_shards"] = shards[0]["count"]
        meta = first.meta.copy(attrs=attrs, provenance=make_provenance("thermcli merge", options, inputs=[parts[i] for i in order]))
        with create_writer(out, meta, force=force) as writer:
            for i in order:
                for batch in readers[i].iter_batches(batch_size):
                    writer.append(batch.replace(meta=meta))
            return writer.n
