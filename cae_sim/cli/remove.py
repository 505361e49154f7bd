"""Take images out of a save, in place: out of its codes, clusters and index (nothing is retrained)."""

from __future__ import annotations

import argparse

from .arguments import add_save_argument, check_folder
from .saves import save_with_clusters

PROGRESS = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the remove command's arguments to ``parser``."""
    add_save_argument(parser)
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image file of the save to take out (it need not exist any more)")


def check(args: argparse.Namespace) -> None:
    """Raise FileNotFoundError if the save's folder is not there."""
    check_folder(args.model)


def run(args: argparse.Namespace) -> int:
    """Take the images out, save in place and print what changed."""
    from ..persistence import writing
    from ..pipeline import Pipeline

    with writing(args.model):  # another writer of this save waits until this one has saved
        pipeline = Pipeline.load(args.model)
        before = len(pipeline.codes_)
        pipeline.remove(args.paths)
        save_with_clusters(pipeline, args.model)
    print(f"removed:       {before - len(pipeline.codes_)}")
    print(f"images now:    {len(pipeline.codes_)} in {args.model}")
    return 0
