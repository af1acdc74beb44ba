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


# ---- every command shown in the README runs ---------------------------------------------------

# lines run by their own tests: set-up (make, git), the example pipelines (tests/examples), DDP
_NOT_HERE = re.compile(r"^\s*(make|git|torchrun|examples/|cd)\b")
# the default run caps training budgets (the numbers are measured elsewhere); `-m slow` runs
# every line verbatim
_QUICK = [
    (re.compile(r"--epochs \d+"), "--epochs 1"),
    (re.compile(r"--source-epochs \d+"), "--source-epochs 1"),
    (re.compile(r"--seeds [\d,]+"), "--seeds 0"),
    (re.compile(r"--teacher-copies \d+"), "--teacher-copies 1"),
    (re.compile(r" --fail-under \S+"), ""),  # gates hold for the documented budgets, not for one epoch
    (re.compile(r"^(thermcli distill (?:(?!--epochs).)*)$", re.M), r"\1 --epochs 1"),  # its default is 30
]


def _readme_shell_blocks() -> list[tuple[int, str]]:
    """(line number, shell text) of every sh/bash block that runs thermcli, in README order."""
    out = []
    for match in re.finditer(r"```(?:sh|bash)\n(.*?)```", README, re.S):
        text = re.sub(r"\\\n\s*", " ", match.group(1))
        lines = [": not run here" if _NOT_HERE.match(line) else line for line in text.splitlines()]
        text = "\n".join(lines)
        if re.search(r"(^|[\s;(])(\.venv/bin/)?thermcli ", text, re.M):
            out.append((README[: match.start()].count("\n") + 1, re.sub(r"\.venv/bin/thermcli\b", "thermcli", text)))
    return out


def test_readme_code_blocks_are_closed():
    """An unclosed fence swallows the sections after it (and hides their commands)."""
    in_block = False
    for number, line in enumerate(README.splitlines(), 1):
        if line.startswith("```"):
            in_block = not in_block
        elif in_block:
            assert not line.startswith("#" * 2 + " ") and not line.startswith("### "), f"README line {number}: heading inside a code block"
    assert not in_block, "README ends inside a code block"


def _run_readme(tmp_path: Path, quick: bool) -> None:
    import os
    import shutil
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    shared = repo.parent / "shared"
    if not (shared / "data").is_dir():
        pytest.skip(f"the README's real-data examples need {shared / 'data'}")
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(repo / "sample_data", work / "sample_data")  # `synth ... --force` rewrites it
    (work / "examples").symlink_to(repo / "examples")
    (work / "docs").symlink_to(repo / "docs")
    (tmp_path / "shared").symlink_to(shared)  # ../shared/data as in a checkout
    env = {**os.environ, "PYTHONPATH": str(repo), "MPLBACKEND": "Agg"}
    prelude = f'set -euo pipefail\nthermcli() {{ "{sys.executable}" -m thermcli "$@"; }}\n'
    failed = []
    for line, text in _readme_shell_blocks():
        if quick:
            for pattern, replacement in _QUICK:
                text = pattern.sub(replacement, text)
        proc = subprocess.run(["bash", "-c", prelude + text], cwd=work, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            failed.append(f"README block at line {line} (exit {proc.returncode}):\n{text}\n{proc.stderr[-1500:]}")
    assert not failed, "\n\n".join(failed)


@pytest.mark.shared_data
def test_every_readme_command_runs(tmp_path):
    """Every shell block of the README, in order, in a fresh folder holding a copy of sample_data
    (training budgets capped to one epoch / one seed)."""
    _run_readme(tmp_path, quick=True)


@pytest.mark.slow
@pytest.mark.shared_data
def test_every_readme_command_runs_verbatim(tmp_path):
    _run_readme(tmp_path, quick=False)
