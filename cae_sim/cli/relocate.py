"""Point a save at images that moved: its image paths under folder OLD now start with folder NEW.

Nothing is re-encoded; the save's clusters.csv, if it has one, is written anew with the new paths.
"""

from __future__ import annotations

import argparse
import os

from .arguments import add_save_argument, check_folder
from .output import counted
from .saves import clusters_file

PROGRESS = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the relocate command's arguments to ``parser``."""
    add_save_argument(parser)
    parser.add_argument("old", metavar="OLD", help="folder the images were in (it need not exist any more)")
    parser.add_argument("new", metavar="NEW", help="folder they are in now")


def check(args: argparse.Namespace) -> None:
    """Raise FileNotFoundError if the save's folder or NEW is not there."""
    check_folder(args.model)
    check_folder(args.new)


def run(args: argparse.Namespace) -> int:
    """Rewrite the save's paths, then its clusters.csv, and print how many paths changed."""
    from ..exports import write_clusters_csv
    from ..persistence import relocate_save, writing
    from ..pipeline import Pipeline

    old, new = os.path.abspath(args.old), os.path.abspath(args.new)
    with writing(args.model):
        had_clusters = os.path.isfile(clusters_file(args.model))  # the rewritten save keeps only its own files
        changed = relocate_save(args.model, old, new)
        if had_clusters:
            write_clusters_csv(Pipeline.load(args.model), clusters_file(args.model))
    print(f"relocated:     {counted(changed, 'image path')} from {old} to {new}")
    return 0
