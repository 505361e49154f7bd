"""Check every file of a save against the hash its manifest recorded.

Prints how many files were verified and exits 0; exits 1 with the first changed or missing file's name otherwise.
"""

from __future__ import annotations

import argparse
import sys

from .arguments import add_save_argument, check_folder

PROGRESS = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the verify command's arguments to ``parser``."""
    add_save_argument(parser)


def check(args: argparse.Namespace) -> None:
    """Raise FileNotFoundError if the save's folder is not there."""
    check_folder(args.model)


def run(args: argparse.Namespace) -> int:
    """Verify the save; return 0 if it is whole, 1 if a file is changed or missing."""
    from ..persistence import verify_save

    try:
        n_files = verify_save(args.model)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"ok: {n_files} files verified in {args.model}")
    return 0
