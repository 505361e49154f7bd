"""What the commands' arguments are: argparse types for numbers, checks of paths, the version; no heavy imports.

The types run while the command line is parsed (a bad number is a usage error, status 2); the path checks run
after it, before TensorFlow loads, so a mistyped folder fails at once.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import os

#: What the positional DIR of every command but train holds.
SAVE_HELP = "folder of a save written by train"


def positive_int(text: str) -> int:
    """Parse an option that takes a positive int."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}")
    return value


def threshold(text: str) -> float:
    """Parse ``--threshold``: a number in [-1, 1], the widest range of scores (the metric's own is checked after loading)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not -1 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [-1, 1], got {text!r}")
    return value


def clusters(text: str) -> int | str:
    """Parse ``--clusters``: a positive int or "auto"."""
    if text == "auto":
        return text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a positive int or 'auto', got {text!r}") from None


def n_jobs(text: str) -> int:
    """Parse ``--n-jobs``: -1 (one thread per core) or a positive int."""
    if text.strip() == "-1":
        return -1
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected -1 or a positive int, got {text!r}") from None


def add_save_argument(parser: argparse.ArgumentParser) -> None:
    """Add the positional DIR (``args.model``), the save a command reads or changes."""
    parser.add_argument("model", metavar="DIR", help=SAVE_HELP)


def add_n_jobs_option(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--n-jobs N`` (``args.n_jobs``), the threads doing ``what``."""
    parser.add_argument("--n-jobs", type=n_jobs, default=-1, metavar="N", help=f"threads {what} (default: -1, one per core)")


def check_folder(path: str) -> None:
    """Raise FileNotFoundError if ``path`` does not exist, NotADirectoryError if it is a file."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise NotADirectoryError(f"not a folder: {path!r} is a file")
    if not os.path.isdir(path):
        raise FileNotFoundError(f"no such folder: {path!r}")


def check_file(path: str) -> None:
    """Raise FileNotFoundError if ``path`` is not a file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path!r}")


def check_exists(path: str) -> None:
    """Raise FileNotFoundError if ``path`` is neither a file nor a folder."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file or folder: {path!r}")


def check_output(path: str) -> None:
    """Raise FileNotFoundError if the folder that would hold the output ``path`` does not exist."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {path!r}: no such folder: {folder!r}")


def check_output_file(path: str) -> None:
    """Raise FileNotFoundError as ``check_output`` does, IsADirectoryError if ``path`` is a folder (a file is written
    there)."""
    check_output(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot write {path!r}: it is a folder; name a file")


def version() -> str:
    """The version of the installed ``cae_sim`` distribution."""
    try:
        return importlib.metadata.version("cae_sim")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"
