"""``import --signals … --sync-marks``: a signal on its own clock brought onto the frames."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import assert_clean_error
from thermcli.io import read_dataset

FPS = 10.0
RATE = 50.0
OFFSET = 1.5  # the signal's clock runs 1.5 s ahead of the video's


def _video(path, n=40):
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (16, 12))
    for i in range(n):
        writer.write(np.full((12, 16, 3), 5 * i, np.uint8))
    writer.release()


def _flow(t):
    return 30.0 * np.sin(2 * np.pi * 0.4 * t)


@pytest.fixture
def recording(tmp_path):
    _video(tmp_path / "vid.avi")
    k = np.arange(int(5.5 * RATE))  # the signal stops with the video (4 s + 1.5 s on its clock)
    t = k / RATE
    flow = _flow(t)
    volume = np.cumsum(flow) / (60 * RATE)
    rows = [f"{f:.6f},{0.01 * i:.3f},{v:.6f},0,0" + (",7,8" if i % 7 == 0 else "") for i, (f, v) in enumerate(zip(flow, volume))]
    (tmp_path / "spiro.txt").write_text("\n".join(rows) + "\n")
    (tmp_path / "vid_marks.txt").write_text("0.5\n2.0\n3.5\n")
    (tmp_path / "sig_marks.txt").write_text("\n".join(f"{v + OFFSET:.3f}" for v in (0.5, 2.0, 3.5)) + "\n")
    return tmp_path


def _args(r, *extra):
    return ("import", r / "vid.avi", r / "out.h5", "--signals", r / "spiro.txt", "--signal-columns", "flow,pressure,volume",
            "--sync-marks", f"{r / 'vid_marks.txt'}:{r / 'sig_marks.txt'}", *extra)


def test_signal_on_its_own_clock_lands_on_the_frames(cli, recording):
    r = recording
    result = cli(*_args(r, "--phase-from", "flow", "--json"))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["sync"]
    assert report["offset_s"] == pytest.approx(OFFSET) and report["offset_sd_s"] == pytest.approx(0.0, abs=1e-9)
    assert report["signal_rate_hz"] == RATE  # estimated: 275 samples over 5.5 s
    ds = read_dataset(r / "out.h5")
    assert len(ds) == 40 and set(ds.columns) >= {"flow", "pressure", "volume", "signal_time"}
    t = np.arange(40) / FPS
    np.testing.assert_allclose(ds.columns["signal_time"], t + OFFSET)
    np.testing.assert_allclose(ds.columns["flow"], _flow(t + OFFSET), atol=0.05)  # linear interpolation of a 50 Hz sine
    band = 0.05 * np.percentile(np.abs(_flow(np.arange(275) / RATE)), 95)
    truth = np.where(_flow(t + OFFSET) > band, 1, np.where(_flow(t + OFFSET) < -band, 0, -1))
    sure = np.abs(np.abs(_flow(t + OFFSET)) - band) > 0.1
    np.testing.assert_array_equal(ds.labels[sure], truth[sure])
    assert ds.meta.class_names == ["INH", "EXH"]
    assert ds.meta.attrs["sync"]["marks"] == 3
    assert report["phase"]["flow_volume_correlation"] > 0.9


def test_given_rate_and_shift_move_the_samples(cli, recording):
    r = recording
    result = cli(*_args(r, "--signal-rate", "50", "--sync-shift", "0.5"))
    assert result.exit_code == 0, result.output
    assert "offset +2.000 s" in result.stderr + result.stdout
    ds = read_dataset(r / "out.h5")
    t = np.arange(40) / FPS
    np.testing.assert_allclose(ds.columns["signal_time"], t + OFFSET + 0.5)
    assert ds.labels is None  # no --phase-from: no labels


def test_phase_zero_moves_the_flow_zero(cli, recording):
    r = recording
    assert cli(*_args(r, "--phase-from", "flow")).exit_code == 0
    plain = read_dataset(r / "out.h5").labels
    lines = (r / "spiro.txt").read_text().splitlines()
    shifted = [f"{float(line.split(',')[0]) - 5.0:.6f}," + line.split(",", 1)[1] for line in lines]
    (r / "spiro.txt").write_text("\n".join(shifted) + "\n")
    result = cli(*_args(r, "--phase-from", "flow", "--phase-zero", "-5", "--force"))
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(read_dataset(r / "out.h5").labels, plain)  # the same phases about the new zero
    assert_clean_error(cli(*_args(r, "--phase-from", "flow", "--phase-zero", "low", "--force")), 2, "--phase-zero")
    assert_clean_error(cli(*_args(r, "--phase-zero", "mode", "--force")), 2, "--phase-zero")


def test_flow_mode_is_the_pause_level():
    from thermcli.stages.importer.sync import flow_mode

    rng = np.random.default_rng(1)
    flow = np.concatenate([np.full(400, -7.0) + rng.normal(0, 0.2, 400), rng.uniform(-50, 90, 600)])
    assert abs(flow_mode(flow) - (-7.0)) < 1.0


def test_delays_table_adds_to_the_marks(cli, recording):
    r = recording
    (r / "shifts.txt").write_text("++index\t++vid_delay\t++flow_delay\n$$0\t$$9\t$$9\n" + "".join(
        f"$${i}\t$$0.2\t$$0.7\n" for i in range(1, 4)))
    result = cli(*_args(r, "--sync-delays", r / "shifts.txt", "--sync-delay-rows", "1:4", "--json"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sync"]["offset_s"] == pytest.approx(OFFSET + 0.5)
    assert_clean_error(cli(*_args(r, "--sync-delays", r / "shifts.txt", "--force")), 2, "--sync-delay-rows")


def test_bad_sync_input_is_one_line_and_writes_nothing(cli, recording):
    r = recording
    (r / "short.txt").write_text("0.5\n2.0\n")
    assert_clean_error(cli(*_args(r)[:-1], f"{r / 'short.txt'}:{r / 'sig_marks.txt'}"), 1, "short.txt")
    assert_clean_error(cli(*_args(r)[:-1], "only-one-file"), 2, "--sync-marks")
    assert_clean_error(cli("import", r / "vid.avi", r / "out.h5", "--signals", r / "spiro.txt", "--signal-rate", "20"),
                       2, "--signal-rate")
    assert_clean_error(cli(*_args(r, "--phase-from", "nope")), 2, "--phase-from")
    assert_clean_error(cli(*_args(r, "--phase-dead-band", "1.5", "--phase-from", "flow")), 2, "--phase-dead-band")
    assert_clean_error(cli(*_args(r, "--phase-positive", "UP", "--phase-from", "flow")), 2, "--phase-positive")
    assert not (r / "out.h5").exists()


@pytest.mark.shared_data
@pytest.mark.parametrize("rec,rows,frames", [(2, "6:12", 4018)])
def test_real_recording_syncs_through_the_authors_marks(cli, tmp_path, shared_data, rec, rows, frames):
    raw = shared_data / "breathing-spirometry" / "raw"
    folder = raw / str(rec)
    result = cli("import", folder / "vid.mp4", tmp_path / "r.h5", "--signals", folder / "1_spiro.txt",
                 "--signal-columns", "flow,pressure,volume",
                 "--sync-marks", f"{folder / '3_vid_timer.txt'}:{folder / '2_spiro_timer.txt'}",
                 "--sync-delays", raw / "shifts.txt", "--sync-delay-rows", rows, "--phase-from", "flow", "--json")
    assert result.exit_code == 0, result.output
    sync = json.loads(result.stdout)["sync"]
    assert json.loads(result.stdout)["frames"] == frames  # counted by reading, not OpenCV's header count
    marks = np.loadtxt(folder / "2_spiro_timer.txt") - np.loadtxt(folder / "3_vid_timer.txt")
    assert sync["marks"] == 6 and 0 < sync["offset_s"] < 5 and 0 < sync["offset_sd_s"] < 2
    assert abs(sync["offset_s"] - marks.mean()) < 2  # the authors' delays move it by seconds, not minutes
    assert sync["signal_rate_hz"] == 20.0 and sync["frames_covered"] == frames
    assert sync["phase"]["flow_volume_correlation"] > 0.5  # the volume rises with positive (EXH) flow
    ds = read_dataset(tmp_path / "r.h5")
    assert set(np.unique(ds.labels)) == {-1, 0, 1}


@pytest.mark.shared_data
def test_synced_recording_1_holds_the_authors_segment_00(cli, tmp_path, shared_data):
    """The authors cut segment 00 from recording 1 at video mark 2 s + 2 s delay (frame 80) and
    spirometer mark 1.9 s + 3.7 s: the synced flow from frame 80 on must be segment 00's flow."""
    from thermcli.io.signals import read_signal_table

    raw = shared_data / "breathing-spirometry" / "raw"
    folder = raw / "1"
    result = cli("import", folder / "vid.mp4", tmp_path / "r.h5", "--signals", folder / "1_spiro.txt",
                 "--signal-columns", "flow,pressure,volume", "--frames", "0:600",
                 "--sync-marks", f"{folder / '3_vid_timer.txt'}:{folder / '2_spiro_timer.txt'}",
                 "--sync-delays", raw / "shifts.txt", "--sync-delay-rows", "0:6", "--phase-from", "flow", "--phase-zero", "mode")
    assert result.exit_code == 0, result.output
    flow = read_dataset(tmp_path / "r.h5").columns["flow"]
    segment = read_signal_table(shared_data / "breathing-spirometry" / "00data.txt")["flow"]
    segment = segment[np.isfinite(segment)]
    n = len(segment)
    lags = {lag: np.corrcoef(flow[80 + lag: 80 + lag + n], segment)[0, 1] for lag in range(-20, 21)}
    best = max(lags, key=lags.get)
    assert lags[0] > 0.85 and abs(best) <= 4, (lags[0], best, lags[best])  # within 0.2 s: the marks interpolate


def test_sync_xcorr_reports_how_far_the_video_trails_the_flow(cli, tmp_path):
    import cv2

    fps, rate, n, delay = 10.0, 50.0, 400, 0.3
    rng = np.random.default_rng(2)
    t_sig = np.arange(int((n / fps + OFFSET + 1) * rate)) / rate
    freq = 0.3 + 0.1 * np.sin(2 * np.pi * t_sig / 17.0)  # a changing pace: one lag fits
    flow = 30 * np.sin(2 * np.pi * np.cumsum(freq) / rate)
    t_frames = np.arange(n) / fps
    seen = np.interp(t_frames + OFFSET - delay, t_sig, flow)  # the ROI warms `delay` s after the flow
    writer = cv2.VideoWriter(str(tmp_path / "v.avi"), cv2.VideoWriter_fourcc(*"MJPG"), fps, (16, 12))
    for value in seen:
        frame = np.full((12, 16, 3), 60, np.uint8)
        frame[2:10, 4:12] = np.uint8(np.clip(120 + 3 * value + rng.normal(0, 1), 0, 255))
        writer.write(frame)
    writer.release()
    (tmp_path / "s.txt").write_text("\n".join(f"{v:.5f}" for v in flow) + "\n")
    (tmp_path / "vm.txt").write_text("1\n20\n")
    (tmp_path / "sm.txt").write_text(f"{1 + OFFSET}\n{20 + OFFSET}\n")
    args = ("import", tmp_path / "v.avi", tmp_path / "o.h5", "--signals", tmp_path / "s.txt", "--signal-columns", "flow",
            "--sync-marks", f"{tmp_path / 'vm.txt'}:{tmp_path / 'sm.txt'}", "--signal-rate", "50", "--sync-xcorr", "flow")
    result = cli(*args, "--sync-roi", "4,2,8,8", "--json")
    assert result.exit_code == 0, result.output
    xcorr = json.loads(result.stdout)["sync"]["xcorr"]
    assert xcorr["windows_used"] >= 1 and abs(xcorr["lag_s"] - delay) <= 1 / fps + 1e-9
    assert xcorr["roi"] == [4, 2, 8, 8] and xcorr["applied"] is False
    assert_clean_error(cli(*args, "--sync-roi", "10,2,8,8", "--force"), 2, "--sync-roi")
    assert_clean_error(cli(*args[:-2], "--sync-roi", "4,2,8,8", "--force"), 2, "--sync-roi")
    assert_clean_error(cli(*args[:-1], "nope", "--force"), 2, "--sync-xcorr")
