"""A signal file on its own clock, brought onto a video's frames through sync marks
(``import --sync-marks``): read its columns, map each frame's time onto the signal's clock
(``thermcli.ops.clock``), resample the columns there, and label each frame's breathing phase
from a signed flow column (``--phase-from``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.stages.importer.options import ImportOptions
from thermcli.stages.importer.sources import _Unit


def _read_marks(path: Path) -> np.ndarray:
    from thermcli.io.signals import read_leading_columns

    return read_leading_columns(path, ("t",))["t"]


def _delays(options: ImportOptions, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Extra delays per mark (frame clock, signal clock), seconds; zeros without --sync-delays."""
    if options.sync_delays is None:
        return np.zeros(k), np.zeros(k)
    from thermcli.io.signals import read_signal_table

    table = read_signal_table(options.sync_delays)
    names = [n for n in table if table[n].dtype != object]
    video = next((n for n in ("vid_delay", "video_delay", "frame_delay") if n in table), None)
    signal = next((n for n in ("flow_delay", "signal_delay") if n in table), None)
    if video is None or signal is None:
        raise DataError(f"needs columns vid_delay and flow_delay (or video_delay, signal_delay); it has {names}",
                        path=str(options.sync_delays))
    start, stop = options.sync_delay_rows or (0, None)
    rows = np.arange(len(table[video]))[slice(start, stop)]
    if len(rows) != k:
        raise UsageError(f"selects {len(rows)} rows of {options.sync_delays} but there are {k} sync marks",
                         param="--sync-delay-rows")
    return table[video][rows].astype(np.float64), table[signal][rows].astype(np.float64)


def flow_mode(flow: np.ndarray) -> float:
    """The most common value of a flow (the centre of the fullest of 200 histogram bins): where a
    breathing flow sits during pauses, i.e. the device's zero."""
    values = flow[np.isfinite(flow)]
    counts, edges = np.histogram(values, bins=200)
    k = int(np.argmax(counts))
    return float((edges[k] + edges[k + 1]) / 2)


def sync_signals(units: list[_Unit], options: ImportOptions, warnings: list[str] | None = None
                 ) -> tuple[dict[str, np.ndarray], np.ndarray | None, dict[str, Any]]:
    """The signal columns at every frame of the one video unit (NaN where the signal has no
    sample), the per-frame phase labels (or None), and the sync report; notes for people are
    appended to ``warnings``."""
    if warnings is None:
        warnings = []
    from thermcli.io.signals import read_leading_columns, read_signal_table
    from thermcli.ops.clock import estimate_sample_rate, fit_clock_map, flow_volume_agreement, phase_from_flow, resample_at

    if len(units) != 1 or not units[0].is_stream:
        raise UsageError("syncing a signal file needs exactly one video SOURCE", param="--sync-marks")
    if len(options.signals) != 1:
        raise UsageError("give exactly one --signals file to sync", param="--sync-marks")
    u = units[0]
    signal_path = options.signals[0]
    if options.signal_columns:
        table = read_leading_columns(signal_path, options.signal_columns)
    else:
        table = {k: v for k, v in read_signal_table(signal_path).items() if v.dtype != object}
    if options.columns:
        missing = [c for c in options.columns if c not in table]
        if missing:
            raise UsageError(f"no column {missing[0]!r} in {signal_path} (columns: {', '.join(table)})", param="--columns")
        table = {c: table[c] for c in options.columns}
    n_samples = len(next(iter(table.values())))

    video_marks_path, signal_marks_path = options.sync_marks
    video_marks = _read_marks(video_marks_path)
    signal_marks = _read_marks(signal_marks_path)
    if len(video_marks) != len(signal_marks):
        raise DataError(f"holds {len(video_marks)} marks but {signal_marks_path} holds {len(signal_marks)}: they must pair",
                        path=str(video_marks_path))
    video_delay, signal_delay = _delays(options, len(video_marks))
    clock = fit_clock_map(video_marks + video_delay, signal_marks + signal_delay, where=str(video_marks_path))
    if options.sync_shift:
        clock = fit_clock_map(clock.src, clock.dst + options.sync_shift)

    fps = u.video.fps if u.video is not None else None
    if not fps:
        raise UsageError("the video has no frame rate; give --fps", param="--fps")
    frame_times = np.arange(u.n, dtype=np.float64) / fps
    signal_times = clock(frame_times)
    estimated = estimate_sample_rate(clock, n_samples, u.n / fps)
    if options.signal_rate is not None:
        rate = float(options.signal_rate)
    else:
        whole = round(estimated)
        rate = float(whole) if whole > 0 and abs(estimated - whole) <= 0.02 * estimated else estimated
    columns = {name: resample_at(values, rate, signal_times) for name, values in table.items()}
    columns["signal_time"] = signal_times
    covered = np.isfinite(signal_times * rate) & (signal_times * rate >= 0) & (signal_times * rate <= n_samples - 1)

    report: dict[str, Any] = {
        "signal": str(signal_path), "video_marks": str(video_marks_path), "signal_marks": str(signal_marks_path),
        "delays": str(options.sync_delays) if options.sync_delays else None, "shift_s": options.sync_shift,
        **clock.summary(),
        "signal_samples": int(n_samples), "signal_rate_hz": rate, "signal_rate_estimated_hz": estimated,
        "signal_rate_given": options.signal_rate is not None,
        "frames": int(u.n), "frames_covered": int(covered.sum()),
    }
    if options.sync_xcorr is not None:
        report["xcorr"] = _xcorr(u, columns, options)
    labels = None
    if options.phase_from is not None:
        if options.phase_from not in table:
            raise UsageError(f"no column {options.phase_from!r} (columns: {', '.join(table)})", param="--phase-from")
        raw = table[options.phase_from]
        if not np.any(np.isfinite(raw)):
            raise DataError(f"column {options.phase_from!r} holds no number", path=str(signal_path))
        mode = flow_mode(raw)
        zero = mode if options.phase_zero == "mode" else float(options.phase_zero)
        amplitude = float(np.nanpercentile(np.abs(raw - zero), 95))
        dead_band = options.phase_dead_band * amplitude
        labels = phase_from_flow(columns[options.phase_from] - zero, dead_band, positive=options.phase_positive)
        if options.phase_zero != "mode" and abs(mode - zero) > dead_band:
            warnings.append(f"{signal_path}: the most common {options.phase_from} value is {mode:+.3g}, outside the dead band "
                            f"±{dead_band:.3g} around the zero {zero:g}: the device's zero may be offset, and pauses are then "
                            "labelled as a phase (--phase-zero mode takes the most common value as zero)")
        report["phase"] = {
            "column": options.phase_from, "positive": options.phase_positive, "zero": zero, "flow_mode": mode,
            "dead_band": dead_band,
            "dead_band_fraction": options.phase_dead_band,
            "frames_inh": int(np.sum(labels == 0)), "frames_exh": int(np.sum(labels == 1)),
            "frames_unlabelled": int(np.sum(labels < 0)),
        }
        volume = next((c for c in table if c.lower().startswith("vol")), None)
        if volume is not None:
            report["phase"]["flow_volume_correlation"] = flow_volume_agreement(raw, table[volume])
    return columns, labels, report


def _xcorr(u: _Unit, columns: dict[str, np.ndarray], options: ImportOptions) -> dict[str, Any]:
    """The lag of the ROI mean (one pass over the video) behind the synced signal column."""
    from thermcli.io.video import iter_video
    from thermcli.ops.clock import xcorr_lag

    column = options.sync_xcorr
    if column not in columns:
        raise UsageError(f"no column {column!r} (columns: {', '.join(c for c in columns if c != 'signal_time')})", param="--sync-xcorr")
    if u.video is None:
        raise UsageError("cross-correlation needs a video SOURCE", param="--sync-xcorr")
    x, y, w, h = options.sync_roi or (0, 0, u.video.width, u.video.height)
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > u.video.width or y + h > u.video.height:
        raise UsageError(f"{x},{y},{w},{h} is not inside the {u.video.width}×{u.video.height} frame", param="--sync-roi")
    means = np.full(u.n, np.nan)
    for index, frame in iter_video(u.video, np.arange(u.n)):
        crop = np.asarray(frame[y:y + h, x:x + w], np.float64)
        means[index] = crop.mean()
    result = xcorr_lag(means, columns[column], u.video.fps)
    result.update({"column": column, "roi": [int(x), int(y), int(w), int(h)], "applied": False})
    return result


def describe_sync(report: dict[str, Any]) -> str:
    """One line for people: the offset, its uncertainty and the sample rate."""
    text = (f"synced {Path(report['signal']).name} through {report['marks']} marks: offset "
            f"{report['offset_s']:+.3f} s ± {report['offset_sd_s']:.3f} s (marks' SD; SE {report['offset_se_s']:.3f} s, "
            f"range {report['offset_range_s'][0]:+.2f}…{report['offset_range_s'][1]:+.2f} s), clock ratio "
            f"{report['rate_ratio']:.4f}, signal rate {report['signal_rate_hz']:g} Hz "
            f"({'given' if report['signal_rate_given'] else 'estimated'} {report['signal_rate_estimated_hz']:.2f} Hz), "
            f"{report['frames_covered']}/{report['frames']} frames inside the signal")
    xcorr = report.get("xcorr")
    if xcorr:
        text += (f"; cross-correlation: the ROI mean trails {xcorr['column']} by {xcorr['lag_s']:+.3f} s ± {xcorr['lag_sd_s']:.3f} s "
                 f"({xcorr['windows_used']}/{xcorr['windows']} windows, median r {xcorr['median_corr']:.2f}; not applied)")
    phase = report.get("phase")
    if phase:
        r = phase.get("flow_volume_correlation")
        agree = "" if r is None else f"; volume change vs flow r={r:+.2f}"
        text += (f"; phase from {phase['column']} (zero {phase['zero']:+.3g}, positive = {phase['positive']}, "
                 f"dead band ±{phase['dead_band']:.3g}): "
                 f"{phase['frames_inh']} INH, {phase['frames_exh']} EXH, {phase['frames_unlabelled']} unlabelled{agree}")
    return text
