"""Streamed classification data: the block plan, the streaming fit of the normalisation, and
training that gives the same weights whether the frames are held in memory or streamed, and
whether a run was stopped mid-epoch and resumed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import make_dataset

torch = pytest.importorskip("torch")


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Blocks of 8 frames of 12×10 (so a small dataset has many), buffers of 2 blocks."""
    import thermcli.stages.classify_stream as cs

    monkeypatch.setattr(cs, "BLOCK_BYTES", 12 * 10 * 4 * 8)
    monkeypatch.setattr(cs, "BUFFER_BYTES", 12 * 10 * 4 * 16)


@pytest.fixture
def frames_h5(tmp_path):
    from thermcli.io import write_dataset

    ds = make_dataset(n=96, h=12, w=10, seed=4)
    ds.labels = (np.arange(96) // 5 % 3 == 0).astype(np.int64)
    ds.sequence = np.array([f"s{i // 40}" for i in range(96)], dtype=object)
    ds.frames[::7, 0, 0] = np.nan  # masked pixels
    path = tmp_path / "frames.h5"
    write_dataset(path, ds, batch_size=8)  # HDF5 chunks of 8 rows
    return path, ds


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 300), block=st.integers(1, 40), batch=st.sampled_from([1, 2, 4, 6, 8, 16, 24]),
       buffer=st.integers(1, 100), epoch=st.integers(0, 3), drop_last=st.booleans())
def test_block_plan_is_a_sample_of_the_rows_and_independent_of_the_process_count(n, block, batch, buffer, epoch, drop_last):
    from thermcli.stages.trainer import block_batches, lanes_for

    block_of = np.arange(n) // block
    one = block_batches(block_of, epoch, 7, batch, drop_last, buffer=buffer)
    flat = np.concatenate(one) if one else np.zeros(0, np.int64)
    assert len(set(flat.tolist())) == len(flat)  # a permutation of a subset: no row twice
    lanes = lanes_for(batch, 1)
    assert len(flat) >= n - lanes - (batch if drop_last else 0) * 1  # at most the incomplete batch and < L rows dropped
    if batch % 2 == 0 and n >= 2 * lanes:
        halves = [block_batches(block_of, epoch, 7, batch, drop_last, buffer=buffer, rank=r, world=2) for r in (0, 1)]
        assert len(halves[0]) == len(halves[1]) == len(one)
        for s, together in enumerate(one):  # the same global batches, split between the processes
            assert sorted(together.tolist()) == sorted(np.concatenate([halves[0][s], halves[1][s]]).tolist())
            assert len(halves[0][s]) == len(halves[1][s])
        if n // block >= 8:  # each process reads only its share of the blocks (+ one it shares at the cut)
            read = [set(block_of[np.concatenate(h)].tolist()) for h in halves if h]
            if len(read) == 2:
                assert len(read[0] & read[1]) <= 1


def test_block_plan_reshuffles_each_epoch_and_is_deterministic():
    from thermcli.stages.trainer import block_batches

    block_of = np.arange(200) // 10
    a = block_batches(block_of, 0, 1, 8, True, buffer=20)
    assert all(np.array_equal(x, y) for x, y in zip(a, block_batches(block_of, 0, 1, 8, True, buffer=20)))
    b = block_batches(block_of, 1, 1, 8, True, buffer=20)
    assert not all(np.array_equal(x, y) for x, y in zip(a, b))


def test_resampling_draws_in_proportion_to_the_weights():
    from thermcli.stages.trainer import block_batches

    block_of = np.arange(4000) // 50
    weights = np.where(np.arange(4000) % 10 == 0, 9.0, 1.0)  # 10 % of rows with 9× weight → half the draws
    drawn = np.concatenate(block_batches(block_of, 0, 3, 8, True, weights, buffer=400))
    share = np.mean(drawn % 10 == 0)
    assert 0.45 < share < 0.55


@pytest.mark.parametrize("mode", ["frame", "window", "dataset", "none"])
def test_streamed_normalisation_fit_equals_the_whole_array_fit(frames_h5, tiny_blocks, mode):
    from thermcli.stages.classify_data import fit_normalization
    from thermcli.stages.classify_stream import scan

    path, ds = frames_h5
    info = scan(path, frames_k=1, centered=False, norm=None, normalize=mode)
    ref = fit_normalization(ds.frames.astype(np.float32), mode)
    assert info.norm.mode == ref.mode
    assert info.norm.mean == pytest.approx(ref.mean, rel=1e-9, abs=1e-12)
    assert info.norm.std == pytest.approx(ref.std, rel=1e-9)
    assert info.block == 8  # chunk-aligned


@pytest.mark.parametrize("k,centered", [(1, False), (3, False), (4, True)])
def test_streamed_batches_equal_the_in_memory_data(frames_h5, tiny_blocks, k, centered):
    """Any rows, any order: the streamed reader gives exactly the in-memory inputs (windows
    reaching into the previous block included)."""
    from thermcli.stages.classify_data import load_split
    from thermcli.stages.classify_stream import open_split

    path, _ = frames_h5
    streamed = open_split(path, frames_k=k, centered=centered, norm=None, cache="none")
    held, _, _ = load_split(path, frames_k=k, norm=streamed.norm, centered=centered)
    rows = np.random.default_rng(0).permutation(96)[:40]
    x, y = streamed.batch(rows)
    x_ref, y_ref = held.batch(torch.from_numpy(rows))
    assert torch.equal(x, x_ref) and torch.equal(y, y_ref)
    assert len(streamed._cache) <= 2  # without a plan it keeps only the last blocks


@pytest.fixture
def colour_h5(tmp_path):
    """3-channel intensity frames (RGB / pseudo-colour), HDF5 chunks of 8 rows."""
    from thermcli.io import write_dataset

    ds = make_dataset(n=40, h=12, w=10, unit="intensity", channels=3, seed=5)
    ds.labels = (np.arange(40) // 3 % 2).astype(np.int64)
    path = tmp_path / "colour.h5"
    write_dataset(path, ds, batch_size=8)
    return path


@pytest.mark.parametrize("grey,k,normalize", [(False, 1, "frame"), (False, 2, "dataset"), (True, 2, "frame")])
def test_streamed_colour_frames_equal_the_in_memory_inputs(colour_h5, tiny_blocks, grey, k, normalize):
    """3-channel frames stream as the in-memory path reads them: K·3 channels, or --grey luma."""
    from thermcli.stages.classify_data import load_split
    from thermcli.stages.classify_stream import open_split

    streamed = open_split(colour_h5, frames_k=k, centered=False, norm=None, normalize=normalize, cache="none", grey=grey)
    held, norm, _ = load_split(colour_h5, frames_k=k, norm=None, normalize=normalize, grey=grey)
    assert streamed.channels == held.channels == (1 if grey else 3)
    assert streamed.norm.mode == norm.mode and np.isclose(streamed.norm.std, norm.std, rtol=1e-9)
    assert np.isclose(streamed.norm.mean, norm.mean, rtol=1e-9)
    held, _, _ = load_split(colour_h5, frames_k=k, norm=streamed.norm, grey=grey)
    rows = np.random.default_rng(1).permutation(40)[:25]
    x, y = streamed.batch(rows)
    x_ref, y_ref = held.batch(torch.from_numpy(rows))
    assert x.shape == (25, k * streamed.channels, 12, 10)
    assert torch.equal(x, x_ref) and torch.equal(y, y_ref)


def test_colour_frames_resized_give_the_same_weights_streamed_or_held(cli, colour_h5, tiny_blocks, tmp_path):
    """--cache memory and none through the model's input front end (--input-size resize per batch)."""
    held = _train(cli, colour_h5, tmp_path / "memory", "--cache", "memory", "--input-size", "16x16")
    streamed = _train(cli, colour_h5, tmp_path / "none", "--cache", "none", "--input-size", "16x16")
    assert held.keys() == streamed.keys()
    assert all(torch.equal(held[k], streamed[k]) for k in held)


def test_plan_reads_each_block_once_and_drops_it_after_its_last_use(frames_h5, tiny_blocks):
    from thermcli.stages.classify_stream import open_split
    from thermcli.stages.trainer import block_batches

    path, _ = frames_h5
    data = open_split(path, frames_k=2, centered=False, norm=None, cache="none")
    batches = block_batches(data.block_of, 0, 5, 8, True, buffer=16)
    data.plan(batches)
    held = 0
    for rows in batches:
        data.batch(rows)
        held = max(held, len(data._cache))
    assert sorted(data.reads) == list(range(data.n_blocks))  # every block read once
    assert held <= 8 * 2 + 2  # the lanes' current buffers, not the dataset
    assert not data._cache  # all dropped at the end of the epoch


def _train(cli, path, out, *extra):
    result = cli("-q", "train", path, "--out", out, "--arch", "small_cnn", "--width", "4", "--epochs", "2",
                 "--batch-size", "8", "--seed", "3", "--device", "cpu", "--frames", "2", "--dropout", "0.2", *extra)
    assert result.exit_code == 0, result.output
    return torch.load(out / "last.pt", weights_only=True)["state_dict"]


@pytest.mark.parametrize("balance", ["weights", "resample"])
def test_cache_memory_and_none_give_bit_identical_weights(cli, frames_h5, tiny_blocks, tmp_path, balance):
    path, _ = frames_h5
    held = _train(cli, path, tmp_path / "memory", "--cache", "memory", "--balance", balance, "--val", path)
    streamed = _train(cli, path, tmp_path / "none", "--cache", "none", "--balance", balance, "--val", path)
    assert held.keys() == streamed.keys()
    assert all(torch.equal(held[k], streamed[k]) for k in held)
    metrics = [(tmp_path / name / "metrics.csv").read_text().splitlines() for name in ("memory", "none")]
    header = metrics[0][0].split(",")
    keep = [i for i, name in enumerate(header) if name != "seconds"]
    for a, b in zip(metrics[0][1:], metrics[1][1:]):
        assert [a.split(",")[i] for i in keep] == [b.split(",")[i] for i in keep]


def test_streamed_run_stopped_mid_epoch_resumes_to_the_same_weights(cli, frames_h5, tiny_blocks, tmp_path, monkeypatch):
    from thermcli import interrupt
    from thermcli.models.checkpoint import read_checkpoint
    from thermcli.stages.train_classify import ClassifyTask

    path, _ = frames_h5
    full = _train(cli, path, tmp_path / "full", "--cache", "none")
    original, calls = ClassifyTask.loss, {"n": 0}

    def loss(self, model, batch):
        out = original(self, model, batch)
        calls["n"] += 1
        if calls["n"] == 15:  # 12 batches an epoch: stop inside the second
            interrupt.request()
        return out

    with monkeypatch.context() as patch:  # (undo only this: the tiny blocks stay)
        patch.setattr(ClassifyTask, "loss", loss)
        cut = cli("-q", "train", path, "--out", tmp_path / "cut", "--arch", "small_cnn", "--width", "4", "--epochs",
                  "2", "--batch-size", "8", "--seed", "3", "--device", "cpu", "--frames", "2", "--dropout", "0.2",
                  "--cache", "none")
        interrupt.reset()
    assert cut.exit_code == 130, cut.output
    position = read_checkpoint(tmp_path / "cut" / "last.pt")["extra"]["position"]
    assert position["step"] > 0  # inside an epoch
    resumed = _train(cli, path, tmp_path / "cut", "--cache", "none", "--resume")
    assert all(torch.equal(full[k], resumed[k]) for k in full)


def test_cache_option_is_checked(cli, frames_h5, tmp_path):
    path, _ = frames_h5
    result = cli("train", path, "--out", tmp_path / "x", "--cache", "disk", "--epochs", "1")
    assert result.exit_code == 2
    assert "--cache" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_streamed_predict_equals_the_in_memory_prediction_and_eval_reads_no_frames(cli, frames_h5, tiny_blocks, tmp_path):
    from thermcli.device import resolve_device
    from thermcli.io import read_dataset
    from thermcli.stages.evaluate import read_without_frames
    from thermcli.stages.predict_classify import classifier_probabilities

    path, ds = frames_h5
    _train(cli, path, tmp_path / "run", "--cache", "none")
    model = tmp_path / "run" / "best.pt"
    result = cli("-q", "predict", model, path, tmp_path / "pred.h5", "--device", "cpu", "--batch-size", "5")
    assert result.exit_code == 0, result.output
    written = read_dataset(tmp_path / "pred.h5")
    probs, _, _ = classifier_probabilities(model, path, device=resolve_device("cpu"))
    np.testing.assert_allclose(written.columns["probabilities"], probs, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(written.labels, probs.argmax(1))
    np.testing.assert_array_equal(written.frames, ds.frames)  # the frames kept, as before
    np.testing.assert_array_equal(written.columns["true_labels"], ds.labels)
    light = read_without_frames(tmp_path / "pred.h5")
    assert light.frames.shape == ds.frames.shape and light.frames.base is not None and light.frames.strides[0] == 0
    np.testing.assert_array_equal(light.columns["probabilities"], written.columns["probabilities"])
    report = cli("eval", tmp_path / "pred.h5", "--output", tmp_path / "e.json")
    assert report.exit_code == 0, report.output
    import json

    scores = json.loads((tmp_path / "e.json").read_text())
    accuracy = float(np.mean(probs.argmax(1) == ds.labels))
    found = []

    def walk(node):  # the report's "accuracy" wherever the report nests it
        if isinstance(node, dict):
            found.extend(v for k, v in node.items() if k == "accuracy" and isinstance(v, float))
            for v in node.values():
                walk(v)

    walk(scores)
    assert found and found[0] == pytest.approx(accuracy)  # scored from the labels read without frames


def test_png_folder_streams_like_hdf5(tmp_path, tiny_blocks):
    from thermcli.io import write_dataset
    from thermcli.stages.classify_data import load_split
    from thermcli.stages.classify_stream import open_split

    ds = make_dataset(n=30, h=12, w=10, seed=6)
    ds.labels = (np.arange(30) % 2).astype(np.int64)
    write_dataset(tmp_path / "pngs", ds)
    streamed = open_split(tmp_path / "pngs", frames_k=3, centered=False, norm=None, cache="none")
    held, norm, _ = load_split(tmp_path / "pngs", frames_k=3, norm=None)
    assert streamed.norm.std == pytest.approx(norm.std, rel=1e-9)
    rows = np.random.default_rng(1).permutation(30)
    x, y = streamed.batch(rows)
    x_ref, y_ref = held.batch(torch.from_numpy(rows))
    np.testing.assert_allclose(x.numpy(), x_ref.numpy(), rtol=1e-6, atol=1e-6)
    assert torch.equal(y, y_ref)
    assert streamed.n_blocks > 1
