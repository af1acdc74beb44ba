"""``thermcli adapt --resume``: a run stopped by Ctrl-C (the project's interrupt mechanism)
continues from ``last.pt`` and ends with exactly the weights and scores of an uninterrupted run."""

from __future__ import annotations

import csv
import json

import pytest

from tests.cli.test_adapt import FAST
from tests.conftest import assert_clean_error

# 2 source epochs of 2 steps (the tiny source set), then 2 adaptation epochs of 2 steps:
# training batches 1-4 are stage 1, 5-8 the adaptation. Ctrl-C during batch 3 (or 7) stops in
# the middle of a stage's second epoch, one step of it taken.
IN_SOURCE, IN_ADAPT = 3, 7


@pytest.fixture
def stop_at(monkeypatch):
    """``stop_at(n)``: Ctrl-C arrives while the loop draws its n-th training batch (counted over
    both stages): ``interrupt.request()``, what the signal handler does, and the training loop
    stops at its next check, whenever in the step it makes it."""
    from thermcli import interrupt
    from thermcli.stages.adapt import tasks

    calls = {"n": 0, "at": None}
    for cls in (tasks.SourceTask, tasks.AddaTask, tasks.DannTask):
        original = cls.batch

        def batch(self, rows, device, _original=original):
            calls["n"] += 1
            if calls["at"] is not None and calls["n"] == calls["at"]:
                interrupt.request()
            return _original(self, rows, device)

        monkeypatch.setattr(cls, "batch", batch)

    def arm(n: int | None) -> None:
        calls["n"], calls["at"] = 0, n
        interrupt.reset()

    yield arm
    interrupt.reset()


def _rows(path):
    with open(path / "metrics.csv") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def _weights(path):
    from thermcli.models.checkpoint import read_checkpoint

    return read_checkpoint(path)["state_dict"]


def _same_weights(a, b) -> None:
    import torch

    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


@pytest.mark.parametrize(
    "method,stop,options",
    [
        ("adda", IN_SOURCE, []),
        ("adda", IN_ADAPT, []),
        ("adda", IN_ADAPT, ["--adversary-on", "logits", "--dropout", "0", "--weight-decay", "1e-4"]),
        ("adda", IN_ADAPT, ["--adda-update", "simultaneous"]),
        ("dann", IN_SOURCE, ["--optimizer", "sgd", "--weight-decay", "1e-3"]),
        ("dann", IN_ADAPT, []),
    ],
)
def test_interrupted_then_resumed_equals_uninterrupted(cli, tmp_path, domains, adapted, stop_at, method, stop, options):
    from thermcli.models.checkpoint import read_checkpoint

    args = [
        "adapt", "--method", method, domains / "source_train.h5", domains / "target_train.h5",
        "--target-val", domains / "target_test.h5", "--json", *FAST, *options,
    ]
    stop_at(None)
    if options:
        whole_dir = tmp_path / "whole"
        whole = cli(*args, "--out", whole_dir)
        assert whole.exit_code == 0, whole.output
        a = json.loads(whole.stdout)
    else:  # the plain uninterrupted run is the one the adapt tests share (same arguments)
        whole_dir, a = adapted(method)

    run = tmp_path / "run"
    stop_at(stop)
    stopped = cli(*args, "--out", run)
    assert stopped.exit_code == 130, stopped.output
    assert "interrupted" in stopped.output and "Traceback" not in stopped.output
    extra = read_checkpoint(run / "last.pt")["extra"]
    state = {"stage": extra["task"]["stage"], "epoch": extra["epoch"]}
    assert state["stage"] == ("source" if stop == IN_SOURCE else "adapt") and state["epoch"] == 0
    assert not (run / "best.pt").exists() and not [p for p in run.iterdir() if p.name.startswith(".")]
    assert len(_rows(run)) == (1 if stop == IN_SOURCE else 3)  # the epoch cut short left no row

    stop_at(None)
    again = cli(*args, "--out", run)  # without --resume or --force the run folder is refused
    assert_clean_error(again, 2, "--resume")
    resumed = cli(*args, "--out", run, "--resume")
    assert resumed.exit_code == 0, resumed.output
    b = json.loads(resumed.stdout)
    assert a["target_acc_adapted"] == b["target_acc_adapted"]
    assert a["target_acc_source_only"] == b["target_acc_source_only"]
    _same_weights(whole_dir / "best.pt", run / "best.pt")
    _same_weights(whole_dir / "source.pt", run / "source.pt")
    assert _rows(whole_dir) == _rows(run)  # the epoch cut short is re-run, its row not doubled
    assert json.loads((run / "metrics.json").read_text())["resumed_from"] == {"stage": state["stage"], "epoch": 0}


def test_resume_several_seeds_reads_finished_ones_back(cli, tmp_path, domains, stop_at):
    args = ["adapt", domains / "source_train.h5", domains / "target_train.h5", "--target-val", domains / "target_test.h5", "--seeds", "0,1", "--json", *FAST]
    stop_at(None)
    whole = cli(*args, "--out", tmp_path / "whole")
    assert whole.exit_code == 0, whole.output
    stop_at(8 + IN_ADAPT)  # seed 0 done, seed 1 stopped in its adaptation
    assert cli(*args, "--out", tmp_path / "run").exit_code == 130
    assert (tmp_path / "run" / "seed0" / "metrics.json").is_file()
    assert not (tmp_path / "run" / "seed1" / "metrics.json").exists()
    stop_at(None)
    resumed = cli(*args, "--out", tmp_path / "run", "--resume")
    assert resumed.exit_code == 0, resumed.output
    a, b = json.loads(whole.stdout), json.loads(resumed.stdout)
    assert a["target_acc_adapted"] == b["target_acc_adapted"]
    for seed in (0, 1):
        _same_weights(tmp_path / "whole" / f"seed{seed}" / "best.pt", tmp_path / "run" / f"seed{seed}" / "best.pt")
    assert "resumed_from" not in json.loads((tmp_path / "run" / "seed0" / "metrics.json").read_text())


def test_bad_adversary_option(cli, tmp_path, domains):
    src, tgt = domains / "source_train.h5", domains / "target_train.h5"
    assert_clean_error(cli("adapt", src, tgt, "--out", tmp_path / "a", "--adversary-on", "pixels", *FAST), 2, "--adversary-on")
    assert_clean_error(cli("adapt", "--method", "dann", src, tgt, "--out", tmp_path / "b", "--adversary-on", "logits", *FAST), 2, "--adversary-on")


@pytest.mark.parametrize("adversary_on", ["features", "logits"])
def test_adversary_on_says_which_layers_adapt(cli, tmp_path, domains, adversary_on):
    """features: the source classifier is reused unchanged; logits (the authors' code): the
    target network's copy of the classifier is adapted too, and the discriminator reads 6 logits."""
    import torch

    out = tmp_path / "run"
    result = cli(
        "adapt", domains / "source_train.h5", domains / "target_train.h5", "--out", out, "--adversary-on", adversary_on,
        "--dropout", "0", *FAST,
    )
    assert result.exit_code == 0, result.output
    source, adapted = _weights(out / "source.pt"), _weights(out / "best.pt")
    head = [k for k in source if k.startswith("head.")]
    encoder = [k for k in source if k.startswith("encoder.")]
    assert head and encoder
    assert all(torch.equal(source[k], adapted[k]) for k in head) == (adversary_on == "features")
    assert not all(torch.equal(source[k], adapted[k]) for k in encoder)
    assert json.loads((out / "config.json").read_text())["adapt"]["adversary_on"] == adversary_on


def test_bad_adda_update_option(cli, tmp_path, domains):
    src, tgt = domains / "source_train.h5", domains / "target_train.h5"
    assert_clean_error(cli("adapt", src, tgt, "--out", tmp_path / "a", "--adda-update", "sideways", *FAST), 2, "--adda-update")
    assert_clean_error(cli("adapt", "--method", "dann", src, tgt, "--out", tmp_path / "b", "--adda-update", "simultaneous", *FAST), 2, "--adda-update")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_simultaneous_updates_are_recorded_and_train_differently(cli, tmp_path, domains):
    """--adda-update simultaneous (the authors' code: both steps from one forward pass) is a
    different optimisation from alternating steps: same source model, different target model."""
    import torch

    from thermcli.models.checkpoint import read_checkpoint

    args = ["adapt", domains / "source_train.h5", domains / "target_train.h5", *FAST]
    for update in ("alternating", "simultaneous"):
        result = cli(*args, "--out", tmp_path / update, "--adda-update", update)
        assert result.exit_code == 0, result.output
        assert json.loads((tmp_path / update / "config.json").read_text())["adapt"]["adda_update"] == update
    _same_weights(tmp_path / "alternating" / "source.pt", tmp_path / "simultaneous" / "source.pt")
    a = read_checkpoint(tmp_path / "alternating" / "best.pt")["state_dict"]
    b = read_checkpoint(tmp_path / "simultaneous" / "best.pt")["state_dict"]
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("encoder."))
