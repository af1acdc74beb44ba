"""`thermcli merge`: shards joined in shard order, complete and from one job, provenance kept."""

from __future__ import annotations

import pytest

from tests.cli.helpers_thr_aug import assert_same_data, written
from tests.conftest import assert_clean_error, make_dataset
from thermcli.io import read_dataset, write_dataset


@pytest.fixture
def src(tmp_path):
    path = tmp_path / "src.h5"
    write_dataset(path, make_dataset(n=10, h=14, w=16, keypoints=True))
    return path


def shards(cli, src, tmp_path, count, *extra):
    parts = []
    for k in range(count):
        part = tmp_path / f"p{k}of{count}{'x' if extra else ''}.h5"
        result = cli("augment", "-n", "2", "--seed", "3", "--shard", f"{k}/{count}", *extra, src, part)
        assert result.exit_code == 0, result.stderr
        parts.append(part)
    return parts


def test_merged_shards_equal_the_unsharded_run(cli, src, tmp_path):
    full = tmp_path / "full.h5"
    assert cli("augment", "-n", "2", "--seed", "3", src, full).exit_code == 0
    parts = shards(cli, src, tmp_path, 3)
    out = tmp_path / "merged.h5"
    result = cli("merge", parts[2], parts[0], parts[1], out)
    assert result.exit_code == 0, result.stderr
    assert_same_data(full, out)
    merged = read_dataset(out)
    assert "shard" not in merged.meta.attrs and merged.meta.attrs["merged_shards"] == 3
    prov = merged.meta.provenance
    assert [r["path"] for r in prov["inputs"]] == [str(p.resolve()) for p in parts]
    assert all(r["provenance"]["command"] == "thermcli augment" for r in prov["inputs"])
    assert prov["inputs"][0]["provenance"]["inputs"][0]["path"] == str(src.resolve())


def test_plain_datasets_join_in_the_order_given(cli, tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    write_dataset(a, make_dataset(n=3, seed=1))
    write_dataset(b, make_dataset(n=4, seed=2))
    result = cli("merge", b, a, tmp_path / "ab.h5")
    assert result.exit_code == 0, result.stderr
    ab = read_dataset(tmp_path / "ab.h5")
    assert ab.frames.tobytes() == read_dataset(b).frames.tobytes() + read_dataset(a).frames.tobytes()


def test_incomplete_duplicate_or_foreign_shards_are_refused(cli, src, tmp_path):
    parts = shards(cli, src, tmp_path, 3)
    other = shards(cli, src, tmp_path, 3, "--rotate", "5")
    plain = tmp_path / "plain.h5"
    write_dataset(plain, make_dataset(n=3, h=14, w=16))
    before = written(tmp_path)
    out = tmp_path / "m.h5"
    assert_clean_error(cli("merge", parts[0], parts[1], out), 2, "shard 2/3 is missing")
    assert_clean_error(cli("merge", parts[0], parts[1], parts[1], out), 1, "given twice")
    assert_clean_error(cli("merge", parts[0], parts[1], other[2], out), 1, str(other[2]))
    assert_clean_error(cli("merge", parts[0], plain, out), 1, str(plain))
    assert_clean_error(cli("merge", out), 2, "PATHS")
    assert written(tmp_path) == before
