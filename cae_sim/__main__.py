"""``python -m cae_sim`` (or ``cae-sim``): the ``train`` and ``query`` commands."""

from __future__ import annotations

import argparse
import sys

from .pipeline import Pipeline
from .train import add_train_arguments, guarded, run_train


def run_query(args: argparse.Namespace) -> int:
    """Print the saved pipeline's images nearest to an image, best first."""
    pipeline = Pipeline.load(args.model)
    for rank, match in enumerate(pipeline.query(args.image, n=args.n), start=1):
        where = match.path if match.path is not None else f"#{match.index}"
        print(f"{rank:3d}  {match.score:.4f}  {where}")
    return 0


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
    args = parser.parse_args(argv)
    return guarded(args.run, args)


if __name__ == "__main__":
    sys.exit(main())
