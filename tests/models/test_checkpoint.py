"""Registry, checkpoints (weights_only) and run folders."""

from __future__ import annotations

import csv
import pickle

import pytest
import torch

from thermcli.errors import DataError, OutputExistsError, UsageError
from thermcli.models.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from thermcli.models.registry import check_name, create_model, register
from thermcli.runs import RunDir


class Tiny(torch.nn.Module):
    def __init__(self, width: int = 4):
        super().__init__()
        self.linear = torch.nn.Linear(3, width)


@register("test_tiny")
def _tiny(width: int = 4) -> Tiny:
    return Tiny(width)


def test_create_and_suggest():
    assert isinstance(create_model("test_tiny", width=5), Tiny)
    with pytest.raises(UsageError, match="did you mean test_tiny"):
        check_name("test_tiy")


def test_checkpoint_roundtrip(tmp_path):
    model = Tiny(6)
    save_checkpoint(tmp_path / "m.pt", state_dict=model.state_dict(), config={"arch": "test_tiny", "model_kwargs": {"width": 6}, "task": "classify"}, extra={"epoch": 3})
    loaded, config, extra = load_checkpoint(tmp_path / "m.pt")
    assert config["model_kwargs"] == {"width": 6} and extra["epoch"] == 3
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)


def test_checkpoint_of_another_architecture(tmp_path):
    save_checkpoint(tmp_path / "m.pt", state_dict=Tiny(6).state_dict(), config={"arch": "test_tiny", "model_kwargs": {"width": 4}})
    with pytest.raises(DataError, match="do not fit architecture"):
        load_checkpoint(tmp_path / "m.pt")


def test_corrupted_and_foreign_checkpoints(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match="not a loadable thermcli checkpoint"):
        read_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(DataError, match="not a thermcli checkpoint"):
        read_checkpoint(tmp_path / "foreign.pt")


class Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_pickled_code_is_never_executed(tmp_path, capsys):
    with open(tmp_path / "evil.pt", "wb") as fh:
        torch.save({"format": "thermcli.checkpoint", "payload": Evil()}, fh, pickle_module=pickle)
    with pytest.raises(DataError):
        read_checkpoint(tmp_path / "evil.pt")
    assert "code ran" not in capsys.readouterr().out


def test_run_dir(tmp_path):
    run = RunDir(tmp_path / "run")
    run.write_config({"arch": "x"})
    run.log({"epoch": 0, "train_loss": 1.0, "val_accuracy": 0.5})
    run.log({"epoch": 1, "train_loss": 0.5, "val_accuracy": 0.75})
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert [float(r["train_loss"]) for r in rows] == [1.0, 0.5]
    assert (tmp_path / "run" / "curves.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(OutputExistsError):
        RunDir(tmp_path / "run")
    resumed = RunDir(tmp_path / "run", resume=True)
    assert [r["epoch"] for r in resumed.rows] == [0, 1]
    resumed.truncate(1)
    assert len(resumed.rows) == 1
