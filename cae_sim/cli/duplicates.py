"""Print the groups of near-duplicate images of a save as a group,index,path,score CSV, or write it to --out.

An image's score is its similarity to its nearest other image: the strongest link that holds it in its group.
"""

from __future__ import annotations

import argparse
import sys

from .arguments import add_save_argument, check_folder, check_output_file, threshold
from .output import counted

PROGRESS = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the duplicates command's arguments to ``parser``."""
    add_save_argument(parser)
    parser.add_argument(
        "--threshold", type=threshold, default=None, metavar="T",
        help="lowest similarity that links two images (default: the threshold calibrated on the collection's own "
        "images when it was trained, for an estimated precision of 0.98)",
    )
    parser.add_argument("--out", metavar="FILE", help="write the CSV to this file (atomically) instead of standard output")


def check(args: argparse.Namespace) -> None:
    """Raise FileNotFoundError if the save's folder, or the folder of --out, is not there, IsADirectoryError if --out
    is a folder."""
    check_folder(args.model)
    if args.out is not None:
        check_output_file(args.out)


def run(args: argparse.Namespace) -> int:
    """Write the CSV to standard output, or to --out and say how many groups it holds."""
    from ..exports import duplicates_csv, write_duplicates_csv
    from ..pipeline import Pipeline

    pipeline = Pipeline.load(args.model)
    groups = pipeline.duplicates(args.threshold)
    scores = pipeline.collection_.duplicate_scores(groups)
    if args.out is None:
        sys.stdout.write(duplicates_csv(groups, pipeline.paths_, scores))
        return 0
    write_duplicates_csv(groups, pipeline.paths_, scores, args.out)
    n_images = sum(len(group) for group in groups)
    print(f"{counted(len(groups), 'group')} of near-duplicates ({counted(n_images, 'image')}) -> {args.out}")
    return 0
