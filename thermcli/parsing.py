"""Parsers of the text forms options take (levels, intervals, sizes, durations, shards, lists).

Pure functions below the CLI: the library and the CLI share them. They raise
``thermcli.errors.UsageError`` naming the option (``param``) on bad text; the CLI's wrappers in
``thermcli.cli.options`` turn that into typer's ``BadParameter`` (exit 2, the option named).
"""

from __future__ import annotations

import math
import re

from thermcli.errors import UsageError

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def _float(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{text!r} is not a number", param=option) from None
    if not math.isfinite(value):
        raise UsageError(f"{text!r} is not a finite number", param=option)
    return value


def parse_levels(text: str, option: str = "--range") -> list[float]:
    """``START:STOP:STEP`` (STOP included when reached) or a comma list ``50,150,250``.

    >>> parse_levels("50:300:100")
    [50.0, 150.0, 250.0]
    >>> parse_levels("0:1:0.25")
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    text = text.strip()
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise UsageError(f"{text!r}: expected START:STOP:STEP", param=option)
        start, stop, step = (_float(p, option) for p in parts)
        if step <= 0:
            raise UsageError(f"{text!r}: STEP must be > 0", param=option)
        if stop < start:
            raise UsageError(f"{text!r}: STOP must be ≥ START", param=option)
        count = int(math.floor((stop - start) / step + 1e-9)) + 1
        if count > 10_000:
            raise UsageError(f"{text!r} gives {count} levels; at most 10000", param=option)
        return [round(start + i * step, 12) for i in range(count)]
    values = [_float(p, option) for p in text.split(",") if p.strip()]
    if not values:
        raise UsageError("no levels given", param=option)
    return values


def parse_interval(text: str, option: str) -> tuple[float, float]:
    """``LO:HI`` with LO < HI, e.g. a temperature window ``20:40``."""
    parts = text.split(":")
    if len(parts) != 2:
        raise UsageError(f"{text!r}: expected LO:HI", param=option)
    lo, hi = (_float(p, option) for p in parts)
    if lo >= hi:
        raise UsageError(f"{text!r}: LO must be < HI", param=option)
    return lo, hi


def parse_size(text: str, option: str = "--crop") -> tuple[int, int]:
    """``HxW`` in pixels, height first as pose models write it (``256x192`` → (256, 192))."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise UsageError(f"{text!r}: expected HEIGHTxWIDTH, e.g. 256x192", param=option)
    return int(match.group(1)), int(match.group(2))


def parse_duration(text: str, option: str) -> float:
    """A duration in seconds: ``60ms``, ``0.5s``, ``2`` (seconds), ``1.5min``."""
    match = re.fullmatch(rf"\s*({_NUMBER})\s*(ms|s|min|)\s*", text)
    if not match:
        raise UsageError(f"{text!r}: expected a duration such as 60ms or 0.5s", param=option)
    value = float(match.group(1)) * {"ms": 1e-3, "s": 1.0, "": 1.0, "min": 60.0}[match.group(2)]
    if not math.isfinite(value) or abs(value) > 1e9:  # "1e400" parses as inf
        raise UsageError(f"{text!r} is not a usable duration", param=option)
    return value


def parse_shard(text: str | None, option: str = "--shard") -> tuple[int, int] | None:
    """``K/N`` (0 ≤ K < N) → (K, N); None when not given."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise UsageError(f"{text!r}: expected K/N, e.g. 0/4", param=option)
    k, n = int(match.group(1)), int(match.group(2))
    if n < 1 or not 0 <= k < n:
        raise UsageError(f"{text!r}: need 0 ≤ K < N", param=option)
    return k, n


def shard_bounds(n_items: int, shard: tuple[int, int] | None) -> tuple[int, int]:
    """Rows [start, stop) of shard K of N: contiguous, sizes differ by at most one."""
    if shard is None:
        return 0, n_items
    k, n = shard
    return (n_items * k) // n, (n_items * (k + 1)) // n


def parse_choice_list(text: str, choices: list[str], option: str) -> list[str]:
    """Comma list of names, each one of ``choices`` (suggesting close names when not)."""
    import difflib

    names = [t.strip() for t in text.split(",") if t.strip()]
    for name in names:
        if name not in choices:
            close = difflib.get_close_matches(name, choices, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; choose from {', '.join(choices)}"
            raise UsageError(f"unknown {name!r}{hint}", param=option)
    if not names:
        raise UsageError("empty list", param=option)
    return names


def parse_frame_range(text: str | None, option: str = "--frames") -> tuple[int | None, int | None] | None:
    """``START:STOP`` frame range (STOP excluded, either side may be empty; Python slice rules).

    >>> parse_frame_range("10:20"), parse_frame_range(":50"), parse_frame_range("5:")
    ((10, 20), (None, 50), (5, None))
    """
    if text is None:
        return None
    parts = text.split(":")
    if len(parts) != 2:
        raise UsageError(f"{text!r}: expected START:STOP, e.g. 100:400", param=option)
    bounds: list[int | None] = []
    for part in parts:
        part = part.strip()
        if not part:
            bounds.append(None)
            continue
        try:
            bounds.append(int(part))
        except ValueError:
            raise UsageError(f"{text!r}: {part!r} is not an integer", param=option) from None
    start, stop = bounds
    if start is not None and stop is not None and start >= 0 and stop >= 0 and stop <= start:
        raise UsageError(f"{text!r}: STOP must be > START", param=option)
    return start, stop


def parse_name_list(text: str | None, option: str) -> tuple[str, ...] | None:
    """Comma-separated names (``flow,volume``) → tuple; None when not given."""
    if text is None:
        return None
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    if not names:
        raise UsageError("empty list", param=option)
    return names


def parse_percentiles(text: str, option: str = "--percentiles") -> tuple[float, float]:
    """``P_LO:P_HI`` with 0 ≤ P_LO < P_HI ≤ 100, e.g. ``1:99``."""
    lo, hi = parse_interval(text, option)
    if lo < 0 or hi > 100:
        raise UsageError(f"{text!r}: percentiles must lie in 0..100", param=option)
    return lo, hi


def parse_span(text: str, option: str, *, minimum: float | None = None) -> tuple[float, float]:
    """``LO:HI`` with LO ≤ HI (equal values fix the parameter), or one number ``V`` (= V:V)."""
    parts = text.split(":")
    if len(parts) not in (1, 2):
        raise UsageError(f"{text!r}: expected LO:HI", param=option)
    values = [_float(p, option) for p in parts]
    lo, hi = values[0], values[-1]
    if lo > hi:
        raise UsageError(f"{text!r}: LO must be ≤ HI", param=option)
    if minimum is not None and lo < minimum:
        raise UsageError(f"{text!r}: values must be ≥ {minimum:g}", param=option)
    return lo, hi


def check_fraction(value: float, option: str, *, allow_zero: bool = True) -> float:
    """A probability or fraction in [0, 1] (or (0, 1] when ``allow_zero`` is False)."""
    if not (0 <= value <= 1) or (not allow_zero and value == 0):
        bounds = "[0, 1]" if allow_zero else "(0, 1]"
        raise UsageError(f"{value:g} is outside {bounds}", param=option)
    return value
