"""Find the closest source images of every target image, write them to a CSV, and print the Top-N accuracy.

Where a target has a source file of the same name, the pair counts as the right answer; the accuracy of every N
up to --top goes to OUT's _accuracy.csv beside it.
"""

from __future__ import annotations

import argparse
import os
import warnings

from .arguments import check_exists, check_folder, check_output_file, positive_int
from .output import counted, print_skipped

PROGRESS = True
#: Top-N rows printed (every N up to --top is in the accuracy CSV).
SHOWN_TOP_N = (1, 2, 3, 5, 10, 15, 20, 50)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the match command's arguments to ``parser``."""
    parser.add_argument("source", metavar="SOURCE", help="folder of originals to search (scanned recursively)")
    parser.add_argument("target", metavar="TARGET", help="folder of images to find the originals of")
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--model", metavar="DIR", help="a save whose encoder encodes the source (no training)")
    chosen.add_argument("--encoder", metavar="NAME", help="encoder fitted on the source (default: contrastive, match()'s own)")
    parser.add_argument("--top", type=positive_int, default=15, metavar="N", help="matches per target (default: 15)")
    parser.add_argument("--out", default="matches.csv", metavar="FILE", help="CSV of the matches (default: matches.csv)")
    parser.add_argument("--seed", type=int, default=None, metavar="N", help="random seed, for repeatable runs")


def check(args: argparse.Namespace) -> None:
    """Raise FileNotFoundError if SOURCE, TARGET, the save of --model or the folder of --out is not there,
    IsADirectoryError if --out is a folder: before anything is trained."""
    check_exists(args.source)
    check_exists(args.target)
    if args.model is not None:
        check_folder(args.model)
    check_output_file(args.out)


def run(args: argparse.Namespace) -> int:
    """Match every target image to the source images; write the CSVs and print the Top-N accuracy."""
    from ..images import resolve_source

    resolve_source(args.target)  # a TARGET without images fails here, before the source's encoder loads
    from ..matching import DEFAULT_ENCODER, match
    from ..pipeline import Pipeline, SkippedImagesWarning

    verbose = 0 if args.quiet else 1
    pipeline = Pipeline.load(args.model).set_params(verbose=verbose) if args.model else None
    encoder = args.encoder or DEFAULT_ENCODER
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedImagesWarning)  # listed below
        report = match(args.source, args.target, pipeline=pipeline, encoder=encoder, top=args.top,
                       random_state=args.seed, verbose=verbose)
    report.write_csv(args.out)
    top = max(map(len, report.matches))  # --top, or every source image where there are fewer
    print(f"targets matched: {len(report.matches)} (top {top} each) -> {args.out}")
    print_skipped(report.skipped, column=17)
    if not report.accuracy:
        print("no target has a source file of the same name: no accuracy to report")
        return 0
    unpaired = len(report.matches) - report.n_paired
    print(f"paired by name:  {report.n_paired} ({counted(unpaired, 'target')} without a same-named source)")
    accuracy_file = os.path.splitext(args.out)[0] + "_accuracy.csv"
    report.write_accuracy_csv(accuracy_file)
    print("  N  Top-N accuracy")
    for n in [n for n in SHOWN_TOP_N if n in report.accuracy]:
        print(f"{n:3d}  {report.accuracy[n]:.3f}")
    print(f"{'Top-1 …' if max(report.accuracy) > 1 else ''} Top-{max(report.accuracy)} in {accuracy_file}".lstrip())
    return 0
