"""What each real radiometric file in ../shared/data/radiometric gives through `thermcli import`,
as the Markdown rows of docs/results/radiometric.md (scripts/results/radiometric.py writes the page).

Run: .venv/bin/python examples/radiometric/measure.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "radiometric"


def main() -> None:
    from thermcli.cli.main import app
    from thermcli.io import read_dataset
    from typer.testing import CliRunner

    if not DATA.is_dir():
        print(f"no data at {DATA}")
        return
    files = sorted(DATA.glob("thermal_parser/*.jpg")) + sorted(DATA.glob("thermal_parser/*/*.JPG")) + sorted(DATA.glob("infiray_irg/*.irg"))
    runner = CliRunner()
    print("| file | result |")
    print("| --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(files):
            out = Path(tmp) / f"{i}.h5"
            result = runner.invoke(app, ["import", str(path), str(out)])
            name = path.relative_to(DATA)
            if result.exit_code == 0:
                frames = read_dataset(out).frames[0]
                h, w = frames.shape
                print(f"| `{name}` | {w}×{h} float32 °C, {np.nanmin(frames):.2f} … {np.nanmax(frames):.2f} °C |")
            else:
                message = result.stderr.strip().split(": error: ", 1)[-1].split(": ", 1)[-1]
                print(f"| `{name}` | exit {result.exit_code}: {message} |")


if __name__ == "__main__":
    main()
