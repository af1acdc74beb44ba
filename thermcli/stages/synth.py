"""Run a sample-data generator and write its artifacts atomically, with provenance."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from thermcli.errors import DataError, UsageError
from thermcli.io import Dataset, atomic_path, is_hdf5_path, make_provenance, write_dataset


def run_synth(kind: str, out: Path, *, seed: int, scale: float, force: bool, options: dict[str, Any]) -> list[Path]:
    """Generate ``kind`` and write it to ``out``: a ``.h5`` file when the generator makes one
    dataset and ``out`` ends in ``.h5``, else a folder holding every artifact by name."""
    from thermcli.synth import kinds

    available = kinds()
    if kind not in available:
        close = difflib.get_close_matches(kind, list(available), n=2)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(available) or 'none'}"
        raise UsageError(f"unknown kind {kind!r}{hint}", param="KIND")
    if not 0 < scale <= 100:  # 100: 10,000 times the sample data's frames; beyond is absurd
        raise UsageError(f"must be in (0, 100], got {scale:g}", param="--scale")
    artifacts = available[kind].generate(seed=seed, scale=scale)
    provenance = make_provenance(f"thermcli synth {kind}", options, seed=seed)
    datasets = {name: a for name, a in artifacts.items() if isinstance(a, Dataset)}
    if is_hdf5_path(out):
        if len(artifacts) != 1 or len(datasets) != 1:
            raise UsageError(f"{kind} makes {len(artifacts)} artifacts ({', '.join(artifacts)}); give a folder", param="OUT")
        ((_, dataset),) = datasets.items()
        dataset.meta = dataset.meta.copy(provenance=provenance)
        write_dataset(out, dataset, force=force)
        return [out]
    if out.suffix:
        raise DataError("output must be a .h5 file or a folder (no suffix)", path=str(out))
    written = []
    with atomic_path(out, force=force, directory=True) as tmp:
        for name, artifact in artifacts.items():
            if isinstance(artifact, Dataset):
                artifact.meta = artifact.meta.copy(provenance=provenance)
                write_dataset(tmp / name, artifact)
            elif isinstance(artifact, str):  # a text file (CSV)
                (tmp / name).write_text(artifact)
            else:
                doc = dict(artifact)
                doc.setdefault("provenance", provenance)
                (tmp / name).write_text(json.dumps(doc, indent=2) + "\n")
            written.append(out / name)
    return written
