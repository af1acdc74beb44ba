"""The README is the manual: every command and every option in --help is documented there, and
every `thermcli ...` line in its shell examples names a real command with valid options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer

from thermcli.cli.main import COMMANDS, app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _group():
    return typer.main.get_command(app)


def _section(name: str) -> str:
    """Every README section of the command (a command may have one per task, e.g. train)."""
    pattern = rf"^### `thermcli {re.escape(name)}(?=[\s`]).*?(?=^### |^## |\Z)"
    return "".join(m.group(0) for m in re.finditer(pattern, README, re.M | re.S))


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_a_section_with_every_option(name):
    section = _section(name)
    assert section, f"README has no '### `thermcli {name} ...`' section"
    command = _group().commands[name]
    missing = []
    for param in command.params:
        if param.param_type_name != "option" or param.name == "help":
            continue
        if not any(opt in section for opt in [*param.opts, *getattr(param, "secondary_opts", [])]):
            missing.append("/".join(param.opts))
    assert not missing, f"options of `thermcli {name}` not documented in its README section: {missing}"


def _readme_command_lines() -> list[str]:
    lines = []
    for block in re.findall(r"```(?:sh|bash|console)\n(.*?)```", README, re.S):
        block = re.sub(r"\\\n\s*", " ", block)  # join continued lines
        for raw in block.splitlines():
            line = raw.strip().removeprefix("$ ")
            line = re.sub(r"^(\.venv/bin/)?thermcli\b", "thermcli", line)
            if line.startswith("thermcli "):
                lines.append(line.split(" | ")[0].split(" > ")[0].split(" && ")[0])
    return lines


@pytest.mark.parametrize("line", _readme_command_lines())
def test_readme_command_lines_parse(line):
    argv = shlex.split(line, comments=True)[1:]
    group = _group()
    while argv and argv[0].startswith("-"):  # global options
        argv = argv[1:]
    if not argv or argv[0] in ("--help", "-h"):
        return
    assert argv[0] in group.commands, f"README shows unknown command: {line}"
    command = group.commands[argv[0]]
    # parsing (not running): unknown options, missing arguments or bad values raise here
    with command.make_context(argv[0], argv[1:], parent=None) as ctx:
        assert ctx.command is command


def test_quick_start_commands_run(cli, tmp_path, monkeypatch):
    """The Quick start's commands, run in order (inputs resolved against the repository)."""
    repo = Path(__file__).resolve().parents[1]
    shared = repo.parent / "shared" / "data"
    quick = README[README.index("## Quick start") : README.index("## The data contract")]
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", quick, re.S):
        for raw in block.splitlines():
            line = re.sub(r"^(\.venv/bin/)?thermcli\b", "thermcli", raw.strip())
            if line.startswith("thermcli "):
                lines.append(line)
    assert len(lines) >= 5
    if any("../shared/data" in line for line in lines) and not shared.is_dir():
        pytest.skip(f"real data not present at {shared}")
    monkeypatch.chdir(tmp_path)
    for line in lines:
        argv = shlex.split(line, comments=True)[1:]
        argv = [a.replace("../shared/data", str(shared)).replace("sample_data/", str(repo / "sample_data") + "/") for a in argv]
        result = cli(*argv)
        assert result.exit_code == 0, (line, result.stderr)
