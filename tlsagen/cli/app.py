"""The `tlsagen` command: global options, and the one place errors become exit codes."""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Annotated, Any

import typer

from tlsagen import __version__
from tlsagen.cli import check, generate, hook, init, plan, providers, publish, rollover
from tlsagen.core.text import escaped
from tlsagen.errors import TlsagenError

SETTINGS: dict[str, Any] = {
    "name": "tlsagen",
    "help": "Generate, publish, roll over and verify DANE TLSA records.",
    "no_args_is_help": True,
    "pretty_exceptions_enable": False,
    "add_completion": True,
    "context_settings": {"help_option_names": ["-h", "--help"]},  # every command inherits it
    "rich_markup_mode": "rich",  # on every typer version: help writes a literal bracket as \[
}
app = typer.Typer(**SETTINGS)
app.command("generate")(generate.generate)
app.command("plan")(plan.plan)
app.command("publish")(publish.publish)
app.command("providers")(providers.providers)
app.command("check")(check.check)
app.add_typer(rollover.app, name="rollover")
app.command("hook")(hook.hook)
app.command("init")(init.init)


def _version(value: bool) -> None:
    if value:
        print(f"tlsagen {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and debug logging.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Generate, publish, roll over and verify DANE TLSA records."""


class _StderrFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = {logging.WARNING: "warning: ", logging.ERROR: "error: "}.get(record.levelno, "")
        return prefix + _lines(record.getMessage())


def _configure_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_StderrFormatter())
    log = logging.getLogger("tlsagen")
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if debug else logging.INFO)


def app_for(args: list[str]) -> typer.Typer:
    """`app` holding only the command that `args` run, when they name one (not a group): typer
    reads the signature of every command it holds at each start, 20-30 ms for all of them."""
    name = next((arg for arg in args if not arg.startswith("-")), None)  # global options: flags
    chosen = [info for info in app.registered_commands if info.name == name]
    if not chosen:
        return app
    one = typer.Typer(**SETTINGS)
    one.registered_commands = chosen
    one.registered_callback = app.registered_callback
    return one


# click's UsageError: typer vendors click from 0.28 on, older typers use click itself.
USAGE_ERROR: type[Exception] = typer.BadParameter.__mro__[1]


def _usage_message(exc: Exception) -> str:
    """One `error:` line for a rejected command line. A group run without a command has shown
    its help already (typer 0.28; older ones put the help in the message)."""
    message = str(getattr(exc, "format_message", exc.__str__)())
    if not message.strip() or message.startswith("Usage:"):
        return message.rstrip()
    context = getattr(exc, "ctx", None)
    where = context.command_path if context is not None else "tlsagen"
    return f"error: {' '.join(message.split())} (see '{where} --help')"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (documented in docs/exit-codes.md)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    _configure_logging(debug)
    try:
        code = app_for(args)(args=args, prog_name="tlsagen", standalone_mode=False)
    except USAGE_ERROR as exc:
        message = _usage_message(exc)
        if message:
            print(message, file=sys.stderr)
        return 2
    except typer.Abort as exc:  # click's name for KeyboardInterrupt, and for any EOFError
        if isinstance(exc.__cause__, EOFError):  # not Ctrl-C: a bug (a closed socket, a pipe)
            return _internal_error(exc.__cause__, debug)
        print("error: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except TlsagenError as exc:
        if debug:
            traceback.print_exc()
        print(f"{exc.label}: {_lines(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        return _internal_error(exc, debug)
    return code if isinstance(code, int) else 0


def _lines(message: str) -> str:
    """`message` with what could drive a terminal escaped, its line breaks kept (a check
    command's output, for one, is quoted line by line)."""
    return "\n".join(escaped(line) for line in message.split("\n"))


def _internal_error(exc: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exception(exc)
    print(
        f"error: internal error ({type(exc).__name__}: {_lines(str(exc))}); "
        "run again with --debug for the traceback and report it",
        file=sys.stderr,
    )
    return 1


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
