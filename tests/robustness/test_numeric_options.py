"""Every float option of every command refuses inf, -inf, nan and absurd magnitudes as a usage
error (exit 2) naming the option, before any work: found by introspecting the app, so an
option added later is covered by default."""

from __future__ import annotations

import time
import typing

import pytest
import typer

from tests.conftest import assert_clean_error
from thermcli.cli.main import app


def _required_options(command: str, folder) -> list[str]:
    """Values for the command's required options (--out, --teacher), so that parsing gets as
    far as converting the numbers."""
    params = typer.main.get_command(app).commands[command].params
    return [str(item) for p in params if p.required and p.opts[0].startswith("--") for item in (p.opts[0], folder / p.name)]


def _arguments(command: str, folder, out) -> list[str]:
    """One path per positional argument (two for a list), the last one ``out``."""
    params = typer.main.get_command(app).commands[command].params
    count = sum(2 if p.nargs == -1 else 1 for p in params if not p.opts[0].startswith("-"))
    return [str(folder / f"missing-{i}.h5") for i in range(count - 1)] + [str(out)] if count else []


def _float_options() -> list[tuple[str, str]]:
    group = typer.main.get_command(app)
    found = []
    for name, command in group.commands.items():
        for param in command.params:
            if not param.opts[0].startswith("--"):
                continue
            annotation = param.type_descriptor.annotation
            args = typing.get_args(annotation)
            if annotation is float or (float in args and type(None) in args):
                found.append((name, param.opts[0]))
    return found


FLOAT_OPTIONS = _float_options()


def test_the_table_finds_the_known_float_options():
    assert ("augment", "--rotate") in FLOAT_OPTIONS and ("synth", "--scale") in FLOAT_OPTIONS
    assert len(FLOAT_OPTIONS) >= 20, FLOAT_OPTIONS


@pytest.mark.parametrize("command,option", FLOAT_OPTIONS, ids=[f"{c}{o}" for c, o in FLOAT_OPTIONS])
def test_non_finite_or_absurd_float_is_a_usage_error(cli, tmp_path, command, option):
    out = tmp_path / "out"
    for value in ("inf", "nan", "-1e300"):
        result = cli(command, f"{option}={value}", *_required_options(command, tmp_path), *_arguments(command, tmp_path, out))
        assert_clean_error(result, 2, option)
        assert not out.exists()


@pytest.mark.parametrize("argv,option", [
    (["--rotate", "inf"], "--rotate"),
    (["--translate", "inf"], "--translate"),
    (["--translate", "1e9"], "--translate"),
    (["--rotate", "1e9"], "--rotate"),
    (["--offset", "inf"], "--offset"),
    (["--noise", "inf"], "--noise"),
    (["--scale", "0.9:1e6"], "--scale"),
    (["--blur", "0.5", "--blur-sigma", "1:1e9"], "--blur-sigma"),
    (["--lowres", "0.5", "--lowres-factor", "2:1e9"], "--lowres-factor"),
])
def test_augment_refuses_at_once(cli, small_h5, tmp_path, argv, option):
    """``augment --rotate inf`` used to spin in OpenCV's border extrapolation until killed."""
    started = time.monotonic()
    result = cli("augment", small_h5, tmp_path / "out.h5", *argv)
    assert_clean_error(result, 2, option)
    assert time.monotonic() - started < 10
    assert not (tmp_path / "out.h5").exists()


def test_synth_scale(cli, tmp_path):
    for value in ("nan", "0", "-1", "1e6"):
        assert_clean_error(cli("synth", "breathing", tmp_path / "b.h5", "--scale", value), 2, "--scale")
    assert not (tmp_path / "b.h5").exists()


def test_workers_is_bounded(cli, small_h5, tmp_path):
    from thermcli.stages.blocks import max_workers

    too_many = str(max_workers() + 1)
    assert_clean_error(cli("threshold", small_h5, tmp_path / "o.h5", "--workers", too_many), 2, "--workers")
    assert_clean_error(cli("augment", small_h5, tmp_path / "o.h5", "--workers", "0"), 2, "--workers")


def test_durations_refuse_overflow(cli, small_h5, tmp_path):
    from thermcli.cli.options import parse_duration

    with pytest.raises(typer.BadParameter):
        parse_duration("1e400", "--max-skew")
    assert parse_duration("60ms", "--max-skew") == pytest.approx(0.06)
