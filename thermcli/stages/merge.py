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


def _comparable_meta(meta) -> dict[str, Any]:
    data = meta.to_json()
    data.pop("provenance", None)
    data["attrs"] = {k: v for k, v in data.get("attrs", {}).items() if k != "shard"}
    return data


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
            if _comparable_meta(reader.meta) != _comparable_meta(first.meta):
                raise DataError(f"metadata differs from {parts[0]} (unit, classes, keypoints or attrs)", path=str(path))
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
        if shards[0] is not None:
            attrs["merged_shards"] = shards[0]["count"]
        meta = first.meta.copy(attrs=attrs, provenance=make_provenance("thermcli merge", options, inputs=[parts[i] for i in order]))
        with create_writer(out, meta, force=force) as writer:
            for i in order:
                for batch in readers[i].iter_batches(batch_size):
                    writer.append(batch.replace(meta=meta))
            return writer.n
