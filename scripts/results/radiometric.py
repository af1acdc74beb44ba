"""docs/results/radiometric.md: what each real radiometric file in ../shared/data/radiometric
gives through `thermcli import` (examples/radiometric/measure.py), about 30 s.

    .venv/bin/python scripts/results/radiometric.py [--render]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _record as R  # noqa: E402

NAME = "radiometric"
SCRIPT = "scripts/results/radiometric.py"
COMMAND = ".venv/bin/python examples/radiometric/measure.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render", action="store_true")
    args = parser.parse_args()
    if args.render:
        record = R.load_record(NAME)
    else:
        _, text = R.run(COMMAND + " 2>/dev/null")
        rows = [line for line in text.splitlines() if line.startswith("| `")]
        record = R.new_record(NAME, SCRIPT, [COMMAND], rows=rows)
        R.save_record(record)
    body = "\n".join([
        "Each file of `../shared/data/radiometric` imported alone with `thermcli import FILE OUT.h5`:",
        "the frame size and temperature range it gives, or the one-line error it stops with.",
        "",
        "| file | `thermcli import` gives |",
        "| --- | --- |",
        *record["rows"],
        "",
        "- FLIR R-JPEG is read with flyr, InfiRay `.irg` with infiray-irg. DJI R-JPEG needs DJI's native",
        "  Thermal SDK and is refused by name.",
        "- An implausible decode (more than 1 % of pixels outside `--plausible`, default −40:2000 °C)",
        "  is an error, not a dataset.",
    ])
    R.write_page(record, "Radiometric files (`thermcli import`)", body)


if __name__ == "__main__":
    main()
