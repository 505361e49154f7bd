"""``python -m cae_sim`` (or ``cae-sim``): the ``train``, ``query`` and ``match`` commands."""

from __future__ import annotations

import argparse
import os
import sys

from .train import add_train_arguments, guarded, run_train

#: Top-n rows printed by ``match`` (and every n up to --top in the accuracy CSV).
SHOWN_TOP_N = (1, 2, 3, 5, 10, 15, 20, 50)


def run_query(args: argparse.Namespace) -> int:
    """Print the saved pipeline's images nearest to an image, best first."""
    from .pipeline import Pipeline  # after the command has quieted TensorFlow

    pipeline = Pipeline.load(args.model)
    for rank, match_ in enumerate(pipeline.query(args.image, n=args.n), start=1):
        where = match_.path if match_.path is not None else f"#{match_.index}"
        print(f"{rank:3d}  {match_.score:.4f}  {where}")
    return 0


def run_match(args: argparse.Namespace) -> int:
    """Match every target image to the source images; write the CSV and print the Top-N accuracy."""
    from .matching import DEFAULT_ENCODER, match
    from .pipeline import Pipeline

    pipeline = Pipeline.load(args.model) if args.model else None
    encoder = args.encoder or DEFAULT_ENCODER
    report = match(args.source, args.target, pipeline=pipeline, encoder=encoder, top=args.top, random_state=args.seed)
    report.write_csv(args.out)
    print(f"targets matched: {len(report.matches)} (top {args.top} each) -> {args.out}")
    print(f"skipped:         {len(report.skipped)}")
    for path, reason in report.skipped:
        print(f"  {path}: {reason}")
    if not report.accuracy:
        print("no target has a source file of the same name: no accuracy to report")
        return 0
    unpaired = len(report.matches) - report.n_paired
    print(f"paired by name:  {report.n_paired} ({unpaired} targets have no same-named source)")
    accuracy_file = os.path.splitext(args.out)[0] + "_accuracy.csv"
    report.write_accuracy_csv(accuracy_file)
    print("  N  Top-N accuracy")
    for n in [n for n in SHOWN_TOP_N if n in report.accuracy]:
        print(f"{n:3d}  {report.accuracy[n]:.3f}")
    print(f"Top-1 … Top-{max(report.accuracy)} in {accuracy_file}")
    return 0


def add_match_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of the match command to ``parser``."""
    parser.add_argument("source", help="folder of originals to search (scanned recursively)")
    parser.add_argument("target", help="folder of images to find the originals of")
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--model", help="a saved pipeline whose encoder encodes the source (no training)")
    chosen.add_argument("--encoder", help="encoder fitted on the source (default: contrastive, match()'s own)")
    parser.add_argument("--top", type=int, default=15, help="matches per target (default: 15)")
    parser.add_argument("--out", default="matches.csv", help="CSV of the matches (default: matches.csv)")
    parser.add_argument("--seed", type=int, default=None, help="random seed, for repeatable runs")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m cae_sim`` and the ``cae-sim`` script."""
    parser = argparse.ArgumentParser(prog="cae-sim", description="Group images and find similar ones.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="fit a pipeline on a folder and save it")
    add_train_arguments(train)
    train.set_defaults(run=run_train)
    query = commands.add_parser("query", help="print the images of a saved pipeline most like an image")
    query.add_argument("model", help="directory written by train")
    query.add_argument("image", help="image file to look up")
    query.add_argument("-n", type=int, default=10, help="how many matches (default: 10)")
    query.set_defaults(run=run_query, quiet=True)
    matcher = commands.add_parser("match", help="find the closest source images of every target image")
    add_match_arguments(matcher)
    matcher.set_defaults(run=run_match, quiet=True)
    args = parser.parse_args(argv)
    return guarded(args.run, args)


if __name__ == "__main__":
    sys.exit(main())
