"""The typer app: global options, subcommand registration, and the one place where errors
become exit codes (0 ok, 1 data/runtime error, 2 usage, 3 failed quality gate, 130 interrupted).

Only the standard library, typer and rich are imported here; each command imports what it needs
(h5py, cv2, torch, sklearn) inside its own body, so ``thermcli --help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperCommand, TyperGroup

import thermcli
from thermcli.cli import state
from thermcli.errors import ThermcliError

# name → "module:function". A command is listed here only once it works end to end.
COMMANDS: dict[str, str] = {
    "import": "thermcli.cli.importer:import_",
    "export": "thermcli.cli.export:export",
    "info": "thermcli.cli.info:info",
    "synth": "thermcli.cli.synth:synth",
    "split": "thermcli.cli.split:split",
    "merge": "thermcli.cli.merge:merge",
    "align": "thermcli.cli.align:align",
    "threshold": "thermcli.cli.threshold:threshold",
    "augment": "thermcli.cli.augment:augment",
    "train": "thermcli.cli.train:train",
    "distill": "thermcli.cli.distill:distill",
    "adapt": "thermcli.cli.adapt:adapt",
    "predict": "thermcli.cli.predict:predict",
    "eval": "thermcli.cli.eval:eval_",
    "annotate": "thermcli.cli.annotate:annotate",
    "roi": "thermcli.cli.roi:roi",
    "tug": "thermcli.cli.tug:tug",
    "export-model": "thermcli.cli.export_model:export_model",
}


INTERRUPTED = "interrupted; nothing half-written (an interrupted training run keeps last.pt for --resume)"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _emit_error(prefix: str, message: str) -> None:
    typer.echo(f"{prefix}: error: {_one_line(message)}", err=True)


class ThermcliGroup(TyperGroup):
    """Maps every failure to a one-line message on stderr and an exit code.

    Overriding ``main`` covers both the console script and typer's CliRunner in tests.
    """

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return list(self.commands)  # registration order, not alphabetical

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra: Any):
        args = _globals_first(list(sys.argv[1:] if args is None else args), self)
        state.reset()
        if any(a in ("-v", "--verbose") for a in args[: _first_command_index(args, self)]):
            state.verbose = True
        prog = prog_name or "thermcli"
        from thermcli.io.atomic import guard_inputs

        guard_inputs(True)  # no output of this command may replace one of its inputs
        _quiet_opencv(state.verbose)
        try:
            rv = super().main(args=args, prog_name=prog, complete_var=complete_var, standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) else 0
            if code == 130:  # typer turns Ctrl-C into Exit(130), returned as a value here
                _emit_error(prog, INTERRUPTED)
        except typer.Exit as exc:  # commands that end early (--version); typer's Ctrl-C path (130)
            code = exc.exit_code
            if code == 130:
                _emit_error(prog, INTERRUPTED)
        except typer.TyperException as exc:  # usage errors: bad option, missing argument
            ctx_path = getattr(getattr(exc, "ctx", None), "command_path", prog)
            _emit_error(ctx_path, exc.format_message())
            code = exc.exit_code
        except typer.Abort:
            _emit_error(prog, INTERRUPTED)
            code = 130
        except ThermcliError as exc:
            if state.verbose:
                traceback.print_exc()
            _emit_error(prog, exc.one_line())
            code = exc.exit_code
        except KeyboardInterrupt:
            _emit_error(prog, INTERRUPTED)
            code = 130
        except MemoryError:
            _emit_error(prog, "out of memory; try a smaller --batch-size")
            code = 1
        except OSError as exc:  # a full disk met by a writer that did not check: still named
            from thermcli.io.atomic import current_output, is_no_space, no_space_error

            if state.verbose:
                traceback.print_exc()
            if is_no_space(exc):
                _emit_error(prog, no_space_error(current_output() or exc.filename or "output").one_line())
            else:
                hint = "" if state.verbose else " (run with --verbose for the traceback)"
                _emit_error(prog, f"{type(exc).__name__}: {exc}{hint}")
            code = 1
        except Exception as exc:  # a bug or an unexpected environment: still one line
            if state.verbose:
                traceback.print_exc()
            hint = "" if state.verbose else " (run with --verbose for the traceback)"
            _emit_error(prog, f"{type(exc).__name__}: {exc}{hint}")
            code = 1
        finally:
            guard_inputs(False)
        if standalone_mode:
            sys.exit(code)
        return code


class ThermcliCommand(TyperCommand):
    """Every subcommand: its numbers are checked once, here, before its body runs."""

    def invoke(self, ctx: typer.Context) -> Any:
        from thermcli.cli.options import check_numbers

        check_numbers(ctx)
        return super().invoke(ctx)


GLOBAL_FLAGS = ("-v", "--verbose", "-q", "--quiet")


def _quiet_opencv(verbose: bool) -> None:
    """OpenCV's own "[ WARN ]" lines (an unreadable image, a video frame not written) preceded
    the one-line error; thermcli reports those failures itself. --verbose lets them through."""
    import os

    level = "INFO" if verbose else "SILENT"
    os.environ["OPENCV_LOG_LEVEL"] = level  # read when cv2 is first imported
    cv2 = sys.modules.get("cv2")
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is not None:
        logging.setLogLevel(logging.LOG_LEVEL_INFO if verbose else logging.LOG_LEVEL_SILENT)


def _globals_first(args: list[str], group: TyperGroup) -> list[str]:
    """Move the global flags (--verbose, --quiet) given after the subcommand in front of it:
    users put flags at the end (``thermcli eval ... --verbose``). Nothing after ``--`` moves."""
    index = _first_command_index(args, group)
    if index >= len(args):
        return args
    tail = args[index + 1 :]
    end = tail.index("--") if "--" in tail else len(tail)
    moved = [a for a in tail[:end] if a in GLOBAL_FLAGS]
    if not moved:
        return args
    kept = [a for a in tail[:end] if a not in GLOBAL_FLAGS] + tail[end:]
    return args[:index] + moved + [args[index]] + kept


def _first_command_index(args: list[str], group: TyperGroup) -> int:
    for i, arg in enumerate(args):
        if arg in group.commands:
            return i
    return len(args)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"thermcli {thermcli.__version__}")
        raise typer.Exit(0)


app = typer.Typer(
    cls=ThermcliGroup,
    name="thermcli",
    help="Transfer learning on thermal (LWIR) images: Unix-style commands that read and write "
    "HDF5/PNG artifacts.\n\nExample: thermcli info sample_data/breathing.h5",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _global(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Tracebacks and more detail on errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or messages, only errors.")] = False,
) -> None:
    state.verbose = state.verbose or verbose
    state.quiet = quiet


def _register() -> None:
    for name, target in COMMANDS.items():
        module_name, function_name = target.split(":")
        function = getattr(importlib.import_module(module_name), function_name)
        app.command(name, cls=ThermcliCommand)(function)


_register()


def main() -> None:
    """Console-script entry point: SIGTERM (cluster pre-emption) stops as cleanly as Ctrl-C."""
    from thermcli import interrupt

    interrupt.install()
    app()  # worker pools start inside a command, after its checks (stages.blocks._start_pool)


if __name__ == "__main__":
    main()
