"""The synth command's plumbing, with a stand-in generator (real kinds have their own tests)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from tests.conftest import assert_clean_error, make_dataset
from thermcli.io import read_dataset


@pytest.fixture
def fake_kind(monkeypatch):
    module = types.ModuleType("thermcli.synth.fake")
    module.KIND = "fake"
    module.SUMMARY = "stand-in"

    def generate(*, seed=0, scale=1.0):
        ds = make_dataset(n=max(1, int(4 * scale)), seed=seed)
        return {"fake.h5": ds, "extra.json": {"seed": seed}}

    module.generate = generate
    import thermcli.synth as package

    monkeypatch.setattr(package, "kinds", lambda: {"fake": module})
    monkeypatch.setitem(sys.modules, "thermcli.synth.fake", module)
    return module


def test_synth_folder_is_deterministic(cli, tmp_path, fake_kind):
    assert cli("synth", "fake", tmp_path / "a", "--seed", "3").exit_code == 0
    assert cli("synth", "fake", tmp_path / "b", "--seed", "3").exit_code == 0
    a, b = read_dataset(tmp_path / "a" / "fake.h5"), read_dataset(tmp_path / "b" / "fake.h5")
    np.testing.assert_array_equal(a.frames, b.frames)
    assert a.meta.provenance["command"] == "thermcli synth fake"
    assert a.meta.provenance["seed"] == 3
    assert (tmp_path / "a" / "extra.json").is_file()


def test_synth_single_file_refused_for_multi_artifact_kind(cli, tmp_path, fake_kind):
    assert_clean_error(cli("synth", "fake", tmp_path / "x.h5"), 2, "OUT")
    assert not (tmp_path / "x.h5").exists()


def test_synth_unknown_kind(cli, tmp_path, fake_kind):
    assert_clean_error(cli("synth", "fak", tmp_path / "x"), 2, "did you mean fake")


def test_synth_refuses_existing_output(cli, tmp_path, fake_kind):
    (tmp_path / "x").mkdir()
    assert_clean_error(cli("synth", "fake", tmp_path / "x"), 2, "--force")
