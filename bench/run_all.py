"""`make bench`: run every benchmark script under bench/ and write one table.

Each script has a ``main()`` that prints its own detail and returns rows
``{"benchmark", "measure", "value", "baseline", "ratio", "note"}`` (ratios against a baseline
measured in the same run). The combined table is printed and written to bench/RESULTS.md.
"""

from __future__ import annotations

import importlib.util
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLUMNS = ("benchmark", "measure", "value", "baseline", "ratio", "note")


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _rows(result, seconds: float) -> list[dict]:
    """A benchmark's return value as table rows (lists of rows, dicts of numbers, one ratio)."""
    if isinstance(result, list):
        return result
    if isinstance(result, dict) and result:
        rows = []
        for key, value in result.items():
            if isinstance(value, dict):
                rows.extend({"measure": f"{key}.{k}", "value": v} for k, v in value.items() if isinstance(v, (int, float)))
            elif isinstance(value, (int, float)):
                rows.append({"measure": key, "value": value, "ratio": value if "ratio" in key else None})
        return rows
    if isinstance(result, (int, float)):
        return [{"measure": "ratio", "ratio": float(result)}]
    return [{"measure": "ran", "value": f"{seconds:.1f} s", "note": "see output"}]


def main(only: list[str] | None = None) -> list[dict]:
    scripts = sorted(
        p for p in HERE.glob("*.py") if p.name not in ("run_all.py", "__init__.py") and not p.name.startswith("_")
    )
    if only:
        scripts = [p for p in scripts if p.stem in only]
    rows: list[dict] = []
    for script in scripts:
        print(f"\n## {script.stem}", flush=True)
        spec = importlib.util.spec_from_file_location(f"bench_{script.stem}", script)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        start = time.perf_counter()
        saved_argv = sys.argv
        sys.argv = [str(script)]  # each benchmark runs with its own defaults
        try:
            result = module.main()
        finally:
            sys.argv = saved_argv
        seconds = time.perf_counter() - start
        print(f"({script.name}: {seconds:.1f} s)", flush=True)
        rows.extend({"benchmark": script.stem, **row} for row in _rows(result, seconds))
    lines = [
        f"# thermcli benchmarks ({platform.node()}, {platform.processor() or platform.machine()}, "
        f"{time.strftime('%Y-%m-%d %H:%M')})",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "| " + " | ".join("---" for _ in COLUMNS) + " |",
    ]
    lines += ["| " + " | ".join(_fmt(row.get(c)) for c in COLUMNS) + " |" for row in rows]
    table = "\n".join(lines) + "\n"
    (HERE / "RESULTS.md").write_text(table)
    print("\n" + table)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:] or None)
