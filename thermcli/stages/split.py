"""Group-aware splits: every frame of one subject (or sequence) lands in exactly one of
train / val / test, so neighbouring, near-duplicate frames never sit on both sides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError, UsageError

SPLITS = ("train", "val", "test")


def assign_groups(groups: list[str], fractions: tuple[float, float, float], seed: int,
                  fixed: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Shuffle the groups with ``seed`` and deal them out by ``fractions`` (train, val, test).

    Every split with a fraction > 0 gets at least one group; ``fixed`` names groups per split
    explicitly (the rest are dealt out as usual).
    """
    fixed = {k: list(v) for k, v in (fixed or {}).items() if v}
    unknown = [g for names in fixed.values() for g in names if g not in groups]
    if unknown:
        raise UsageError(f"unknown group(s) {', '.join(unknown)}; the data has {', '.join(groups[:8])}…", param="--test")
    free = [g for g in groups if not any(g in v for v in fixed.values())]
    rng = np.random.default_rng(seed)
    free = [free[i] for i in rng.permutation(len(free))]
    out = {name: list(fixed.get(name, [])) for name in SPLITS}
    want = [name for name, f in zip(SPLITS, fractions) if f > 0 and not fixed.get(name)]
    total = len(free)
    counts = {}
    for name, f in zip(SPLITS, fractions):
        if name in want and name != "train":
            counts[name] = max(1, int(round(f * len(groups))))
    if sum(counts.values()) + (1 if "train" in want else 0) > total:
        raise DataError(f"{len(groups)} groups cannot fill {', '.join(want)} (need one group each at least)")
    start = 0
    for name in ("test", "val"):
        if name in counts:
            out[name] += free[start : start + counts[name]]
            start += counts[name]
    out["train"] += free[start:]
    return out


def run_split(in_path: Path, out_dir: Path, *, by: str, fractions: tuple[float, float, float], seed: int,
              val_groups: list[str], test_groups: list[str], batch_size: int, force: bool, suffix: str,
              options: dict[str, Any]) -> dict[str, Any]:
    from thermcli.io import atomic_path, create_writer, make_provenance, open_dataset

    if by not in ("subject", "sequence"):
        raise UsageError(f"{by!r}: expected subject or sequence", param="--by")
    if any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise UsageError("fractions must be ≥ 0 with a positive sum", param="--fractions")
    with open_dataset(in_path) as reader:
        if by not in reader.fields:
            raise DataError(f"has no {by} ids to split by", path=str(in_path))
        ids = np.asarray(reader.read_field(by)).astype(str)
        groups = list(dict.fromkeys(ids))
        plan = assign_groups(groups, fractions, seed, {"val": val_groups, "test": test_groups})
        of_group = {g: name for name, members in plan.items() for g in members}
        provenance = make_provenance("thermcli split", options, inputs=[in_path], seed=seed)
        counts = {name: 0 for name in SPLITS}
        with atomic_path(out_dir, force=force, directory=True) as tmp:
            writers = {}
            try:
                for name in SPLITS:
                    if plan[name]:
                        meta = reader.meta.copy(provenance={**provenance, "split": name, "groups": plan[name]})
                        writers[name] = create_writer(tmp / f"{name}{suffix}", meta)
                start = 0
                for batch in reader.iter_batches(batch_size):
                    where = np.array([of_group[g] for g in ids[start : start + len(batch)]])
                    for name, writer in writers.items():
                        rows = np.flatnonzero(where == name)
                        if rows.size:
                            writer.append(batch.take(rows))
                            counts[name] += int(rows.size)
                    start += len(batch)
                for writer in writers.values():
                    writer.close()
            except BaseException as exc:
                for writer in writers.values():
                    writer.abort(type(exc), exc, exc.__traceback__)
                raise
    return {"by": by, "groups": plan, "frames": {k: v for k, v in counts.items() if plan[k]}, "out": str(out_dir)}
