"""`make bench`: run every benchmark script under bench/ (each has a ``main()``) and print
what each reports. Benchmarks print ratios against a baseline measured in the same run."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name not in ("run_all.py", "__init__.py") and not p.name.startswith("_"))
    for script in scripts:
        print(f"\n## {script.stem}", flush=True)
        spec = importlib.util.spec_from_file_location(f"bench_{script.stem}", script)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        start = time.perf_counter()
        module.main()
        print(f"({script.name}: {time.perf_counter() - start:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
