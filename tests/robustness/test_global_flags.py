"""--verbose and --quiet work before or after the subcommand (users put flags at the end)."""

from __future__ import annotations

import pytest

from tests.conftest import make_dataset
from thermcli.io import write_dataset


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "data.h5"
    write_dataset(path, make_dataset(n=6, h=16, w=20))
    return path


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_gives_the_traceback_either_side(cli, data, where):
    argv = ["eval", str(data), str(data)]  # refused: data.h5 is not predictions
    argv = ["--verbose", *argv] if where == "before" else [*argv, "--verbose"]
    result = cli(*argv)
    assert result.exit_code == 1, result.output
    assert "Traceback" in result.stderr and "predictions dataset" in result.stderr
    plain = cli("eval", str(data), str(data))
    assert "Traceback" not in plain.stderr


@pytest.mark.parametrize("flag", ["-q", "--quiet"])
@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_silences_either_side(cli, data, tmp_path, flag, where):
    argv = ["threshold", str(data), str(tmp_path / "out.h5")]
    argv = [flag, *argv] if where == "before" else [*argv, flag]
    result = cli(*argv)
    assert result.exit_code == 0, result.output
    assert result.stderr == "" and result.stdout == ""
    loud = cli("threshold", str(data), str(tmp_path / "out2.h5"))
    assert "wrote" in loud.stdout + loud.stderr


def test_flags_after_double_dash_are_not_moved():
    from thermcli.cli.main import _globals_first, app
    import typer

    group = typer.main.get_command(app)
    assert _globals_first(["eval", "a", "-v"], group) == ["-v", "eval", "a"]
    assert _globals_first(["eval", "a", "--", "-v"], group) == ["eval", "a", "--", "-v"]
    assert _globals_first(["-q", "info", "x"], group) == ["-q", "info", "x"]
