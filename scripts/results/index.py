"""docs/results/index.md: one row per results page — what it measures, when and at which commit
its numbers were made, and whether they were re-measured by the page's script or carried over.
Reads the pages' own provenance blocks (run it after the other scripts).

    .venv/bin/python scripts/results/index.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _record as R  # noqa: E402

ORDER = ["demo", "breathing-pipeline", "breathing-real", "respiration", "keypoints-tug", "adda-digits",
         "adapt-domains", "align", "radiometric", "examples", "benchmarks"]


def field(text: str, name: str) -> str:
    m = re.search(rf"^\| {name} \| (.*) \|$", text, re.M)
    return m.group(1).strip() if m else "?"


def main() -> None:
    rows = []
    pages = {p.stem: p for p in R.DOCS_RESULTS.glob("*.md") if p.stem != "index"}
    for name in ORDER + sorted(set(pages) - set(ORDER)):
        if name not in pages:
            continue
        text = pages[name].read_text()
        title = text.splitlines()[0].removeprefix("# ")
        script = field(text, "page written by")
        if "carried over" in text:
            status = "carried over, not re-run"
        elif "not re-run for this page" in text:
            status = "from committed result files"
        else:
            status = "re-run by its script"
        rows.append([f"[{title}]({name}.md)", field(text, "date"), field(text, "commit"), status, script])
    body = "\n".join([
        "Every page here is written by a script under `scripts/results/` and carries the date, the",
        "commit, the machine and the exact commands beside its numbers; tables are regenerated, never",
        "edited by hand. `make results` re-runs the quick scripts; `make results-all` also runs",
        "`make demo` and the real-data breathing example. Pages marked *carried over* still show the",
        "numbers of an earlier run (their page says which, and the command that re-measures them).",
        "",
        R.table(["page", "date", "commit", "numbers", "written by"], rows),
        "",
    ])
    path = R.DOCS_RESULTS / "index.md"
    path.write_text("# Results\n\n" + R.GENERATED.format(script="scripts/results/index.py") + "\n\n" + body)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
