"""What the commands print about the files they read, with file names shown by ``printable``, and counts of things."""

from __future__ import annotations

from collections.abc import Sequence

from .._files import printable


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, in the plural unless ``n`` is 1: "1 image", "3 images"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def print_skipped(skipped: Sequence[tuple[str, str]], column: int = 15) -> None:
    """Print how many files were skipped (the number at ``column``), then each one's name and reason, indented."""
    print(f"{'skipped:':<{column}}{len(skipped)}")
    for path, reason in skipped:
        print(f"  {printable(path)}: {printable(reason)}")
