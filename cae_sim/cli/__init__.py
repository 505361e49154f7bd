"""The command line: ``cae-sim COMMAND`` (or ``python -m cae_sim COMMAND``), and ``python -m cae_sim.train``.

Each command is a module of this package: its docstring is its help, and it has ``add_arguments(parser)``,
``check(args)`` (the paths it is given, before anything heavy is imported: the command modules import only the
standard library at their top), ``run(args) -> int`` and ``PROGRESS`` (whether it draws progress bars, which
``--quiet`` turns off; the others print their result alone).
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import warnings
from types import ModuleType

from .._files import printable
from .._startup import prepare_command_process
from . import add, duplicates, match, query, relocate, remove, report, train, verify
from .arguments import version

#: The commands, in the order ``--help`` lists them.
COMMANDS = (train, query, add, remove, duplicates, report, match, verify, relocate)


def main(argv: list[str] | None = None) -> int:
    """Run ``cae-sim COMMAND ...`` on ``argv`` (default: the process's arguments); return the exit status.

    Only the command given gets its arguments: some import NumPy and scikit-learn for their choices and defaults.
    """
    argv = sys.argv[1:] if argv is None else argv
    given = next((word for word in argv if not word.startswith("-")), None)  # the main parser has no option values
    parser = _parser(description="Group images into clusters and find similar ones.",
                     epilog=f"'{invocation()} COMMAND --help' lists a command's options.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=CommandParser)
    for module in COMMANDS:
        name = module.__name__.rpartition(".")[2]
        command = commands.add_parser(name, help=module.__doc__.partition("\n")[0], description=module.__doc__)
        if name == given:
            _add_arguments(command, module)
    args = parser.parse_args(argv)
    return run_command(args.module, args)


def train_main(argv: list[str] | None = None) -> int:
    """Run ``python -m cae_sim.train ...``: the train command on its own."""
    parser = _parser(description=train.__doc__)
    _add_arguments(parser, train)
    return run_command(train, parser.parse_args(argv))


def run_command(module: ModuleType, args: argparse.Namespace) -> int:
    """Check the arguments, have TensorFlow and LiteRT start quietly if they load, run; print a bad input's error
    on one line and return 2; on Ctrl-C, print ``interrupted`` (no traceback) and return 130, as a shell reports it."""
    try:
        module.check(args)
        _write_file_names_as_they_are()
        _log_to_stderr(quiet=args.quiet)
        warnings.showwarning = _print_warning
        prepare_command_process()
        return module.run(args)
    except (ValueError, OSError) as error:
        print(f"error: {printable(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        newline = "\n" if sys.stderr.isatty() else ""  # a progress bar may hold the terminal's line
        print(f"{newline}interrupted", file=sys.stderr)
        return INTERRUPTED


#: The exit status of a command stopped by Ctrl-C: 128 + SIGINT, what a shell reports for a process it killed.
INTERRUPTED = 130


def _log_to_stderr(quiet: bool) -> None:
    """Show cae_sim's own log lines (what it read, what it chose) unless ``quiet``, and other libraries' warnings only,
    each as its bare message on standard error.

    The handler itself lets other libraries' lines through from WARNING on: a library that sets its own loggers'
    level (Dask's ``distributed`` logs at INFO) would otherwise print its chatter through it. A process that has
    set up logging already (a host calling ``main``) keeps its handlers as they are.
    """
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        root.handlers[0].addFilter(_own_lines_or_warnings)
    logging.getLogger("cae_sim").setLevel(logging.WARNING if quiet else logging.INFO)


def _own_lines_or_warnings(record: logging.LogRecord) -> bool:
    """Whether the command shows a log record: cae_sim's at its logger's level, another library's from WARNING on."""
    return record.levelno >= logging.WARNING or record.name == "cae_sim" or record.name.startswith("cae_sim.")


def _write_file_names_as_they_are() -> None:
    """Let standard output write a file name's bytes that are not UTF-8 as they are (its CSV gives the exact name
    back; text output shows them with ``printable``), and standard error escape them: never a UnicodeEncodeError."""
    for stream, errors in ((sys.stdout, "surrogateescape"), (sys.stderr, "backslashreplace")):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors=errors)


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as a command shows it: ``warning: MESSAGE`` on standard error, without the library's file and line."""
    print(f"warning: {printable(str(message))}", file=sys.stderr if file is None else file)


def invocation() -> str:
    """How the user started this process, for usage lines: ``python -m cae_sim``, ``cae-sim``, ...

    Python runs ``-m PACKAGE`` as the module ``PACKAGE.__main__``, and a script such as ``cae-sim`` with no module
    spec.
    """
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is None:
        return os.path.basename(sys.argv[0])
    return f"{os.path.basename(sys.executable)} -m {spec.name.removesuffix('.__main__')}"


class CommandParser(argparse.ArgumentParser):
    """The parser of one command: an option it does not know is its own error, shown under its own usage line.

    (argparse leaves a sub-command's unknown arguments to the main parser, whose usage line names no command.)
    """

    def parse_known_args(self, args=None, namespace=None):
        """Parse ``args``; exit with status 2 on any argument this command does not take."""
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def _parser(description: str, epilog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=invocation(), description=description, epilog=epilog)
    parser.add_argument("--version", action="version", version=f"cae-sim {version()}")
    return parser


def _add_arguments(parser: argparse.ArgumentParser, module: ModuleType) -> None:
    """Give ``parser`` the command's arguments, and ``--quiet`` if it draws progress bars."""
    module.add_arguments(parser)
    if module.PROGRESS:
        parser.add_argument("--quiet", action="store_true", help="no progress bars")
    else:
        parser.set_defaults(quiet=True)
    parser.set_defaults(module=module)
