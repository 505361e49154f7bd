"""Encode new images with a save's encoder and add them to it, in place (nothing is retrained).

Each PATH is an image file or a folder (scanned recursively); files the save holds already are left out, so adding a
folder again adds only its new files. Encoding can run on Dask workers: local processes (--workers) or a running
cluster (--scheduler). The status is 2 when not one image given could be read (the save is then unchanged).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Iterator

from .arguments import add_save_argument, check_exists, check_folder, positive_int
from .output import print_skipped
from .saves import save_with_clusters

PROGRESS = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the add command's arguments to ``parser``."""
    add_save_argument(parser)
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image file or folder of images to add")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, metavar="N", help="encode in this many local worker processes (a Dask LocalCluster)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="encode on the workers of a running Dask scheduler, e.g. tcp://HOST:8786")


def check(args: argparse.Namespace) -> None:
    """Raise FileNotFoundError if the save's folder or a PATH is not there."""
    check_folder(args.model)
    for path in args.paths:
        check_exists(path)


def run(args: argparse.Namespace) -> int:
    """Add each PATH's new images, save in place if any was added, and print what changed."""
    from ..persistence import writing
    from ..pipeline import Pipeline, SkippedImagesWarning

    with writing(args.model):  # another writer of this save waits until this one has saved
        pipeline = Pipeline.load(args.model).set_params(verbose=0 if args.quiet else 1)
        added, known, skipped = 0, 0, []
        with warnings.catch_warnings(), dask_client(args) as client:
            warnings.simplefilter("ignore", SkippedImagesWarning)  # listed below
            for path in args.paths:
                result = pipeline.add(path, client=client, model_dir=args.model)
                added, known, skipped = added + len(result.positions), known + len(result.known), skipped + result.skipped
        if added:
            save_with_clusters(pipeline, args.model)
    print(f"added:         {added}")
    print(f"already there: {known}")
    print_skipped(skipped)
    print(f"images now:    {len(pipeline.codes_)} in {args.model}")
    if not added and not known:  # every file given was unreadable: as query says it
        print(f"error: no image could be read from {', '.join(map(repr, args.paths))}", file=sys.stderr)
        return 2
    return 0


@contextlib.contextmanager
def dask_client(args: argparse.Namespace) -> Iterator[object | None]:
    """The Dask client ``--workers`` or ``--scheduler`` asks for, or None to encode in this process."""
    if args.workers is None and args.scheduler is None:
        yield None
        return
    from .. import distributed

    if args.scheduler is not None:
        with distributed.connect(args.scheduler) as client:
            yield client
    else:
        with distributed.local_client(args.workers) as client:
            yield client
