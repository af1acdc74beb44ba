"""Every committed sample_data kind regenerates (at a small --scale) to data of the same schema
and statistics, and `thermcli info` accepts what `thermcli synth` writes.

Kinds are discovered with ``thermcli.synth.kinds()``; a kind's committed files are
``sample_data/<kind>/<artifact>`` or ``sample_data/<artifact>``. With no generator that has
committed files, the test skips with a reason. The bit-for-bit check at full scale is slow
(``make test-all``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, make_dataset

SAMPLE_DATA = REPO / "sample_data"
SMALL_SCALE = 0.25
STAT_FRAMES = 256  # frames read for statistics (memory stays small whatever the file size)
TOLERANCE = 0.15  # share of the committed value span


def committed_path(kind: str, artifact: str) -> Path | None:
    for candidate in (SAMPLE_DATA / kind / artifact, SAMPLE_DATA / artifact):
        if candidate.exists():
            return candidate
    return None


def kinds_with_files() -> dict[str, list[str]]:
    """Kind → names of its artifacts that are committed (probed with a tiny generation)."""
    from thermcli.synth import kinds

    found: dict[str, list[str]] = {}
    for kind in kinds():
        candidates = [p.name for p in (SAMPLE_DATA / kind).iterdir()] if (SAMPLE_DATA / kind).is_dir() else []
        candidates += [p.name for p in SAMPLE_DATA.glob(f"{kind}*") if p.is_file()]
        if candidates:
            found[kind] = sorted(set(candidates))
    return found


def _kind_params():
    try:
        found = kinds_with_files()
    except Exception as exc:  # a broken generator module must fail loudly, not skip
        return [pytest.param("?", marks=pytest.mark.xfail(reason=f"kind discovery failed: {exc}", strict=True))]
    if not found:
        return [pytest.param(None, marks=pytest.mark.skip(reason="no thermcli.synth kind has committed files under sample_data/ yet"))]
    return sorted(found)


def summary(reader) -> dict:
    """Schema and value statistics of a dataset, from its first frames."""
    meta = reader.meta
    stop = min(reader.n, STAT_FRAMES)
    batch = reader.read(0, stop)
    values = batch.frames.astype(np.float64)
    finite = values[np.isfinite(values)]
    labels = sorted(set(batch.labels.reshape(-1).tolist())) if batch.labels is not None and meta.label_kind == "multiclass" else None
    return {
        "unit": meta.unit,
        "modality": meta.modality,
        "dtype": str(batch.frames.dtype),
        "frame_shape": tuple(reader.frame_shape),
        "fields": sorted(reader.fields),
        "columns": sorted(reader.column_names),
        "class_names": meta.class_names,
        "label_kind": meta.label_kind,
        "keypoint_names": meta.keypoint_names,
        "box_class_names": meta.box_class_names,
        "p1": float(np.percentile(finite, 1)) if finite.size else None,
        "p99": float(np.percentile(finite, 99)) if finite.size else None,
        "mean": float(finite.mean()) if finite.size else None,
        "labels": labels,
    }


SCHEMA_KEYS = ("unit", "modality", "dtype", "frame_shape", "fields", "columns", "class_names", "label_kind",
               "keypoint_names", "box_class_names")


def compare(committed: dict, regenerated: dict, where: str) -> list[str]:
    """Differences between two summaries: schema must match; statistics within TOLERANCE."""
    problems = [f"{where}: {key} {regenerated[key]!r} != committed {committed[key]!r}"
                for key in SCHEMA_KEYS if committed[key] != regenerated[key]]
    if committed["p1"] is not None and regenerated["p1"] is not None:
        span = max(committed["p99"] - committed["p1"], 1e-6)
        slack = TOLERANCE * span
        if regenerated["p1"] < committed["p1"] - slack or regenerated["p99"] > committed["p99"] + slack:
            problems.append(f"{where}: values {regenerated['p1']:.3g}…{regenerated['p99']:.3g} outside committed "
                            f"{committed['p1']:.3g}…{committed['p99']:.3g} (±{slack:.3g})")
        if abs(regenerated["mean"] - committed["mean"]) > slack:
            problems.append(f"{where}: mean {regenerated['mean']:.4g} vs committed {committed['mean']:.4g} (±{slack:.3g})")
    if committed["labels"] is not None and regenerated["labels"] is not None:
        if not set(regenerated["labels"]) <= set(committed["labels"]) | {-1}:
            problems.append(f"{where}: labels {regenerated['labels']} not among committed {committed['labels']}")
    return problems


@pytest.mark.parametrize("kind", _kind_params())
def test_regenerated_sample_matches_committed(cli, tmp_path, kind):
    from thermcli.io import is_hdf5_path, open_dataset

    out = tmp_path / kind
    result = cli("synth", kind, out, "--scale", str(SMALL_SCALE), "--seed", "0")
    assert result.exit_code == 0, result.output + result.stderr
    produced = sorted(p.name for p in out.iterdir()) if out.is_dir() else [out.name]
    problems: list[str] = []
    compared = 0
    for name in produced:
        path = out / name
        committed = committed_path(kind, name)
        is_dataset = is_hdf5_path(path) or (path.is_dir() and (path / "thermcli.json").is_file())
        if is_dataset:
            info = cli("info", path, "--json")
            assert info.exit_code == 0, f"thermcli info refuses synth output {name}: {info.stderr}"
            assert json.loads(info.stdout)["kind"] == "dataset"
        if committed is None:
            continue
        compared += 1
        if is_dataset:
            assert cli("info", committed).exit_code == 0, f"thermcli info refuses committed {committed}"
            with open_dataset(committed) as reader_c, open_dataset(path) as reader_r:
                problems += compare(summary(reader_c), summary(reader_r), name)
        elif path.suffix == ".json":
            keys_c = set(json.loads(committed.read_text())) - {"provenance"}
            keys_r = set(json.loads(path.read_text())) - {"provenance"}
            if keys_c != keys_r:
                problems.append(f"{name}: keys {sorted(keys_r)} != committed {sorted(keys_c)}")
    assert compared, f"{kind}: none of {produced} has a committed counterpart under sample_data/"
    assert not problems, "\n".join(problems)


def test_sample_data_stays_under_budget():
    if not SAMPLE_DATA.is_dir():
        pytest.skip("no sample_data/ folder yet")
    total = sum(p.stat().st_size for p in SAMPLE_DATA.rglob("*") if p.is_file())
    assert total < 10 * 1024 * 1024, f"sample_data/ holds {total / 2**20:.1f} MB; the budget is 10 MB"


@pytest.mark.slow
@pytest.mark.parametrize("kind", _kind_params())
def test_committed_sample_is_reproducible(cli, tmp_path, kind):
    """Full scale, seed 0 (the documented command): the same arrays as the committed files."""
    from thermcli.io import is_hdf5_path, read_dataset

    out = tmp_path / kind
    assert cli("synth", kind, out, "--seed", "0").exit_code == 0
    for path in sorted(out.iterdir()) if out.is_dir() else [out]:
        committed = committed_path(kind, path.name)
        if committed is None or not (is_hdf5_path(path) or (path / "thermcli.json").is_file()):
            continue
        a, b = read_dataset(committed), read_dataset(path)
        for name, values in a.per_frame().items():
            other = b.per_frame()[name]
            if values.dtype == object:
                assert list(values) == list(other), name
            else:
                np.testing.assert_array_equal(values, other, err_msg=f"{path.name}: {name}")


# ---- the comparison itself, on stand-in datasets (so this file checks something before the
# generators are merged) --------------------------------------------------------------------------


def _summary_of(ds, tmp_path, name):
    from thermcli.io import open_dataset, write_dataset

    path = tmp_path / f"{name}.h5"
    write_dataset(path, ds)
    with open_dataset(path) as reader:
        return summary(reader)


def test_compare_accepts_same_generator_at_another_size(tmp_path):
    big = _summary_of(make_dataset(n=40, seed=0), tmp_path, "big")
    small = _summary_of(make_dataset(n=10, seed=1), tmp_path, "small")
    assert compare(big, small, "x") == []


def test_compare_flags_schema_and_statistics_drift(tmp_path):
    base = make_dataset(n=20, seed=0)
    reference = _summary_of(base, tmp_path, "ref")
    hotter = base.replace(frames=(base.frames + 15).astype(np.float32))
    assert any("outside committed" in p for p in compare(reference, _summary_of(hotter, tmp_path, "hot"), "x"))
    renamed = base.replace(meta=base.meta.copy(class_names=["A", "B"]))
    assert any("class_names" in p for p in compare(reference, _summary_of(renamed, tmp_path, "ren"), "x"))
    kelvin = make_dataset(n=20, unit="kelvin")
    assert any("unit" in p for p in compare(reference, _summary_of(kelvin, tmp_path, "k"), "x"))
