"""What the commands print about the files they read, with file names shown by ``printable``."""

from __future__ import annotations

from collections.abc import Sequence

from .._files import printable


def print_skipped(skipped: Sequence[tuple[str, str]], column: int = 15) -> None:
    """Print how many files were skipped (the number at ``column``), then each one's name and reason, indented."""
    print(f"{'skipped:':<{column}}{len(skipped)}")
    for path, reason in skipped:
        print(f"  {printable(path)}: {printable(reason)}")
