"""The manual (README.md + docs/, the pages in mkdocs.yml's nav order): every command has a page
that documents every option of its --help, every `thermcli ...` line in a shell example names a
real command with valid options, every shell block runs, the site builds in strict mode, and the
results pages are exactly what their scripts render."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from thermcli.cli.main import COMMANDS, app

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
README = (REPO / "README.md").read_text()


def _nav_pages() -> list[Path]:
    """docs/ pages in mkdocs.yml's nav order (later pages use files earlier pages' examples wrote)."""
    nav = (REPO / "mkdocs.yml").read_text().split("\nnav:", 1)[1]
    return [DOCS / m for m in re.findall(r":\s*(\S+\.md)\s*$", nav, re.M)]


PAGES = [REPO / "README.md", *_nav_pages()]
TEXT = {page: page.read_text() if page.is_file() else "" for page in PAGES}  # a missing page fails the nav test


def _rel(page: Path) -> str:
    return str(page.relative_to(REPO))


def _group():
    return typer.main.get_command(app)


def _command_page(name: str) -> str:
    path = DOCS / "commands" / f"{name}.md"
    return path.read_text() if path.is_file() else ""


def test_the_nav_lists_every_page_and_every_command():
    in_nav = set(_nav_pages())
    on_disk = {p for p in DOCS.rglob("*.md")}
    assert not (in_nav - on_disk), f"nav pages missing: {sorted(map(str, in_nav - on_disk))}"
    assert not (on_disk - in_nav), f"pages not in mkdocs.yml's nav: {sorted(map(str, on_disk - in_nav))}"
    for name in COMMANDS:
        assert DOCS / "commands" / f"{name}.md" in in_nav, f"no nav entry for docs/commands/{name}.md"
        assert f"(docs/commands/{name}.md)" in README, f"README does not link the {name} page"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_a_page_with_every_option(name):
    page = _command_page(name)
    assert page, f"no docs/commands/{name}.md"
    assert re.match(rf"# `thermcli {re.escape(name)}[\s`]", page), f"docs/commands/{name}.md does not start with its synopsis"
    command = _group().commands[name]
    missing = []
    for param in command.params:
        if param.param_type_name != "option" or param.name == "help":
            continue
        if not any(opt in page for opt in [*param.opts, *getattr(param, "secondary_opts", [])]):
            missing.append("/".join(param.opts))
    assert not missing, f"options of `thermcli {name}` not documented on docs/commands/{name}.md: {missing}"


def test_readme_is_a_landing_page():
    assert len(README.splitlines()) <= 400
    assert "make demo" in README and "make test" in README


def _command_lines() -> list[tuple[str, str]]:
    lines = []
    for page, text in TEXT.items():
        for block in re.findall(r"```(?:sh|bash|console)\n(.*?)```", text, re.S):
            block = re.sub(r"\\\n\s*", " ", block)  # join continued lines
            for raw in block.splitlines():
                line = raw.strip().removeprefix("$ ")
                line = re.sub(r"^(\.venv/bin/)?thermcli\b", "thermcli", line)
                if line.startswith("thermcli "):
                    lines.append((_rel(page), line.split(" | ")[0].split(" > ")[0].split(" && ")[0]))
    return lines


@pytest.mark.parametrize(("page", "line"), _command_lines())
def test_command_lines_parse(page, line):
    argv = shlex.split(line, comments=True)[1:]
    group = _group()
    while argv and argv[0].startswith("-"):  # global options
        argv = argv[1:]
    if not argv or argv[0] in ("--help", "-h"):
        return
    assert argv[0] in group.commands, f"{page} shows unknown command: {line}"
    command = group.commands[argv[0]]
    # parsing (not running): unknown options, missing arguments or bad values raise here
    with command.make_context(argv[0], argv[1:], parent=None) as ctx:
        assert ctx.command is command


def test_quick_start_commands_run(cli, tmp_path, monkeypatch):
    """The README's Quick start commands, run in order (inputs resolved against the repository)."""
    shared = REPO.parent / "shared" / "data"
    quick = README[README.index("## Quick start") : README.index("## Commands")]
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
        argv = [a.replace("../shared/data", str(shared)).replace("sample_data/", str(REPO / "sample_data") + "/") for a in argv]
        result = cli(*argv)
        assert result.exit_code == 0, (line, result.stderr)


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_code_blocks_are_closed(page):
    """An unclosed fence swallows the sections after it (and hides their commands)."""
    in_block = False
    for number, line in enumerate(TEXT[page].splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_block = not in_block
        elif in_block:
            assert not re.match(r"#{2,3} ", line), f"{_rel(page)} line {number}: heading inside a code block"
    assert not in_block, f"{_rel(page)} ends inside a code block"


# ---- every command shown in the manual runs --------------------------------------------------

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


def _shell_blocks() -> list[tuple[str, str]]:
    """(page:line, shell text) of every sh/bash block that runs thermcli, in nav order."""
    out = []
    for page, source in TEXT.items():
        for match in re.finditer(r"```(?:sh|bash)\n(.*?)```", source, re.S):
            text = re.sub(r"\\\n\s*", " ", match.group(1))
            lines = [": not run here" if _NOT_HERE.match(line) else line for line in text.splitlines()]
            text = "\n".join(lines)
            if re.search(r"(^|[\s;(])(\.venv/bin/)?thermcli ", text, re.M):
                where = f"{_rel(page)}:{source[: match.start()].count(chr(10)) + 1}"
                out.append((where, re.sub(r"\.venv/bin/thermcli\b", "thermcli", text)))
    return out


def _run_docs(tmp_path: Path, quick: bool) -> None:
    shared = REPO.parent / "shared"
    if not (shared / "data").is_dir():
        pytest.skip(f"the manual's real-data examples need {shared / 'data'}")
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(REPO / "sample_data", work / "sample_data")  # `synth ... --force` rewrites it
    (work / "examples").symlink_to(REPO / "examples")
    (work / "docs").symlink_to(REPO / "docs")
    (tmp_path / "shared").symlink_to(shared)  # ../shared/data as in a checkout
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    prelude = f'set -euo pipefail\nthermcli() {{ "{sys.executable}" -m thermcli "$@"; }}\n'
    failed = []
    for where, text in _shell_blocks():
        if quick:
            for pattern, replacement in _QUICK:
                text = pattern.sub(replacement, text)
        proc = subprocess.run(["bash", "-c", prelude + text], cwd=work, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            failed.append(f"block at {where} (exit {proc.returncode}):\n{text}\n{proc.stderr[-1500:]}")
    assert not failed, "\n\n".join(failed)


@pytest.mark.shared_data
def test_every_documented_command_runs(tmp_path):
    """Every shell block of README.md and docs/, in nav order, in a fresh folder holding a copy of
    sample_data (training budgets capped to one epoch / one seed)."""
    _run_docs(tmp_path, quick=True)


@pytest.mark.slow
@pytest.mark.shared_data
def test_every_documented_command_runs_verbatim(tmp_path):
    _run_docs(tmp_path, quick=False)


# ---- the site and the results pages -------------------------------------------------------------


def test_site_builds_in_strict_mode(tmp_path):
    """`make docs` in CI: mkdocs build --strict (broken links, pages missing from the nav, bad
    anchors fail it)."""
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", str(REPO / "mkdocs.yml"),
                           "-d", str(tmp_path / "site")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "commands" / "train" / "index.html").is_file()


RESULTS = sorted(p for p in (DOCS / "results").glob("*.md"))


@pytest.mark.parametrize("page", [p for p in RESULTS if p.stem != "index"], ids=lambda p: p.stem)
def test_results_pages_carry_their_provenance(page):
    text = page.read_text()
    assert "<!-- generated by scripts/results/" in text
    for field in ("date", "commit", "machine", "software", "torch threads", "page written by"):
        assert re.search(rf"^\| {field} \| .+ \|$", text, re.M), f"{page.name}: no {field}"
    assert "```text\n" in text.split("## How these numbers were made", 1)[1], f"{page.name}: no commands"


def test_results_pages_are_what_their_scripts_render(tmp_path):
    """Rendering every page again from its recorded measurements gives the committed pages byte for
    byte: no number on them was edited by hand."""
    out = tmp_path / "results"
    shutil.copytree(DOCS / "results" / "data", out / "data")
    env = {**os.environ, "THERMCLI_RESULTS_DIR": str(out), "PYTHONPATH": str(REPO)}
    scripts = REPO / "scripts" / "results"
    for name in ("demo", "breathing_real", "respiration", "respiration_raw", "radiometric", "benchmarks", "keypoints_tug",
                 "adapt_domains", "stream", "detect_people", "detect_faces"):
        if (out / "data" / f"{name.replace('_', '-')}.json").is_file():  # else carried.py writes the page
            subprocess.run([sys.executable, str(scripts / f"{name}.py"), "--render"], env=env, check=True, capture_output=True)
    for name in ("carried", "adda_digits", "index"):
        subprocess.run([sys.executable, str(scripts / f"{name}.py")], env=env, check=True, capture_output=True)
    for page in RESULTS:
        assert (out / page.name).read_text() == page.read_text(), f"docs/results/{page.name} differs from its script's rendering"
    assert sorted(p.name for p in out.glob("*.md")) == [p.name for p in RESULTS]
