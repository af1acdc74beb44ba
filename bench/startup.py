"""CLI start-up time: `thermcli --help` and `thermcli info` on a small file, against a bare
`python -c pass` baseline measured in the same run. Prints medians and ratios."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def median_wall(cmd: list[str], repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> list[dict]:
    from tests.conftest import make_dataset
    from thermcli.io import write_dataset

    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small.h5"
        write_dataset(small, make_dataset(n=16, h=60, w=80))
        exe = [sys.executable, "-m", "thermcli"]
        baseline = median_wall([sys.executable, "-c", "pass"])
        helps = median_wall(exe + ["--help"])
        info = median_wall(exe + ["info", str(small)])
    print(f"python -c pass      {baseline:.3f} s")
    print(f"thermcli --help     {helps:.3f} s  ({helps / baseline:.1f}x python start-up; goal < 0.5 s)")
    print(f"thermcli info small {info:.3f} s  ({info / baseline:.1f}x python start-up; goal < 0.5 s)")
    return [
        {"measure": "thermcli --help wall (s)", "value": helps, "baseline": baseline, "ratio": helps / baseline, "note": "goal < 0.5 s; baseline: python -c pass"},
        {"measure": "thermcli info small.h5 wall (s)", "value": info, "baseline": baseline, "ratio": info / baseline, "note": "goal < 0.5 s; baseline: python -c pass"},
    ]


if __name__ == "__main__":
    main()
