"""`thermcli import` of a long FLIR .csq against a bare decode + convert loop, and its peak memory.

The recording is made in a temporary folder (never committed) by repeating real records: the
FLIR T640's 640×480 counts from ../shared/data (its R-JPEG carries one FFF record), JPEG-LS
compressed as a .csq stores them, eight variants (shifted counts) repeated with time stamps 1/30 s
apart, each record with the camera's own CameraInfo (Planck constants, object parameters).

Measured in the same run:

- baseline, the bare loop: read each record's JPEG-LS bytes (offsets known in advance), decode
  with the same codec (imagecodecs), convert to float32 °C with NumPy — (a) the published
  formula evaluated per pixel, (b) a 65,536-entry table lookup (the cheapest NumPy conversion,
  the one the importer uses; the gate is against this stricter one);
- `thermcli import big.csq out.h5` in a fresh subprocess (start-up included), frames/s;
- peak RSS of that subprocess importing the first 500 and all frames (``--frames 0:500``).

Goals (issue 18): throughput ≥ 0.8× the bare loop, peak RSS < 400 MB and flat from 500 to 5,000
frames. Output files are deleted right after each run (5,000 frames of 640×480 float32 are 6 GB).

    .venv/bin/python bench/import_csq.py [--frames 5000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data" / "radiometric" / "thermal_parser" / "FLIR_T640.jpg"

# Runs `thermcli ARGS...` in this process and prints its peak RSS (MiB) as the last line.
_RSS_RUNNER = """
import resource, sys
from thermcli.cli.main import main
sys.argv = ["thermcli"] + sys.argv[1:]
try:
    main()
except SystemExit as exc:
    if exc.code not in (0, None):
        raise
usage = resource.getrusage(resource.RUSAGE_SELF)
print("USAGE", usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)
"""


def build_csq(path: Path, n: int, variants: int = 8) -> list[tuple[int, int]]:
    """Write an n-record .csq; returns each record's (offset, length) of its JPEG-LS stream."""
    from tests.io import fff_build as fb

    _, records = fb.records_of(fb.fff_from_jpeg(SHARED))
    counts = fb.raw_counts(records[0x01])
    raws = [fb.raw_record(np.roll(counts, 7 * k, axis=1), "jpegls") for k in range(variants)]
    streams: list[tuple[int, int]] = []
    t0, offset = 1_700_000_000, 0
    with open(path, "wb") as fh:
        for i in range(n):
            ms = (i * 1000) // 30
            camera = fb.with_time(records[0x20], t0 + ms // 1000, ms % 1000)
            record = fb.fff_record(camera, raws[i % variants])
            raw_start = record.index(raws[i % variants])
            streams.append((offset + raw_start + 32, len(raws[i % variants]) - 32))
            fh.write(record)
            offset += len(record)
    return streams


def bare_loop(path: Path, streams: list[tuple[int, int]], constants, mode: str) -> tuple[float, float]:
    """(wall, CPU) seconds to decode + convert every frame (nothing kept)."""
    import imagecodecs

    from tests.io.fff_build import reference_celsius
    from thermcli.io.fff import celsius_table

    params, planck = constants
    table = celsius_table(params, planck) if mode == "table" else None
    args = dict(
        emissivity=params.emissivity, distance=params.distance_m, reflected_c=params.reflected_k - 273.15,
        atmospheric_c=params.atmospheric_k - 273.15, window_c=params.ir_window_k - 273.15,
        window_transmission=params.ir_window_transmission, humidity=params.humidity, r1=planck.r1, r2=planck.r2,
        b=planck.b, f=planck.f, o=planck.o, alpha1=planck.alpha1, alpha2=planck.alpha2, beta1=planck.beta1,
        beta2=planck.beta2, x=planck.x,
    )
    start, cpu = time.perf_counter(), time.process_time()
    with open(path, "rb") as fh:
        for offset, length in streams:
            fh.seek(offset)
            raw = imagecodecs.jpegls_decode(fh.read(length))
            if table is not None:
                celsius = np.take(table, raw)
            else:
                celsius = reference_celsius(raw, **args).astype(np.float32)
            del celsius
    return time.perf_counter() - start, time.process_time() - cpu


def run_import(src: Path, out: Path, *extra: str) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MiB) of `thermcli import` in a fresh subprocess (start-up included)."""
    env = dict(os.environ, THERMCLI_CACHE_DIR=str(out.parent / "cache"))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _RSS_RUNNER, "import", str(src), str(out), "--force", *extra],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    _, cpu, rss = proc.stdout.strip().splitlines()[-1].split()
    out.unlink()
    return wall, float(cpu), float(rss)


def main(n: int = 5000) -> list[dict]:
    from thermcli.io.fff import FlirRecording

    from thermcli.stages.blocks import keep_freed_memory

    keep_freed_memory()  # the bare loop gets the malloc settings the importer uses
    if not SHARED.is_file():
        print(f"skipped: {SHARED} not present")
        return []
    with tempfile.TemporaryDirectory(prefix="thermcli-bench-csq-") as tmp:
        src = Path(tmp) / "long.csq"
        streams = build_csq(src, n)
        with FlirRecording(src) as recording:
            assert recording.n == n
            constants = (recording.first.params, recording.first.planck)
            shape = recording.raw(0).shape
        print(f"{src.name}: {n} records {shape[1]}×{shape[0]}, {src.stat().st_size / 2**20:.0f} MiB")
        out = Path(tmp) / "out.h5"
        small = run_import(src, out, "--frames", "0:500")
        formula = bare_loop(src, streams, constants, "formula")
        table = bare_loop(src, streams, constants, "table")
        full = run_import(src, out)
    rows = []
    print(f"{'':28s}{'wall frames/s':>15s}{'CPU frames/s':>15s}")
    for name, (wall, cpu) in (("bare decode + formula", formula), ("bare decode + table", table), ("thermcli import", full[:2])):
        print(f"{name:28s}{n / wall:15.1f}{n / cpu:15.1f}")
    for name, (wall, cpu) in (("decode + table", table), ("decode + formula", formula)):
        ratio_wall, ratio_cpu = wall / full[0], cpu / full[1]
        print(f"  import / bare {name:18s} wall {ratio_wall:.2f}   CPU {ratio_cpu:.2f}   (goal ≥ 0.8)")
        rows.append({"measure": f"import .csq throughput vs bare {name}", "value": n / full[0], "baseline": n / wall, "ratio": ratio_wall,
                     "note": f"{n} frames {shape[1]}×{shape[0]}, wall; CPU-time ratio {ratio_cpu:.2f}; goal ≥ 0.8"})
    print(f"peak RSS  500 frames {small[2]:6.0f} MiB")
    print(f"peak RSS {n} frames {full[2]:6.0f} MiB  (goal < 400 MB and flat: {full[2] / small[2]:.2f}× the 500-frame run)")
    rows.append({"measure": f"import .csq peak RSS {n} frames (MiB)", "value": full[2], "baseline": small[2], "ratio": full[2] / small[2],
                 "note": "baseline: the same import of 500 frames; goal < 400 MB, flat"})
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=5000)
    main(parser.parse_args().frames)
