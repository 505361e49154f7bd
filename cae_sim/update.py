"""``python -m cae_sim add DIR DATA`` and ``remove DIR PATH...``: change a saved collection in place.

Both load the save, change it, and write it back atomically (a crash leaves
the old save intact), with ``clusters.csv`` rewritten beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import warnings

from .train import CLUSTERS_FILE, positive_int, write_clusters_csv


def add_add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of the add command to ``parser``."""
    parser.add_argument("model", help="directory written by train")
    parser.add_argument("data", help="folder of images to add (scanned recursively); files already in the save are left out")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, help="encode in this many local worker processes (a Dask LocalCluster)")
    where.add_argument("--scheduler", help="encode on the workers of a running Dask scheduler, e.g. tcp://HOST:8786")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_remove_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of the remove command to ``parser``."""
    parser.add_argument("model", help="directory written by train")
    parser.add_argument("paths", nargs="+", help="image files of the save to take out")


def run_add(args: argparse.Namespace) -> int:
    """Encode DATA's new images with the saved encoder, add them, save in place and print what changed."""
    from .pipeline import Pipeline, SkippedImagesWarning  # after the command has quieted TensorFlow

    pipeline = Pipeline.load(args.model).set_params(verbose=0 if args.quiet else 1)
    with warnings.catch_warnings(), workers(args) as client:
        warnings.simplefilter("ignore", SkippedImagesWarning)  # listed below
        added = pipeline.add(args.data, client=client, model_dir=args.model)
    if len(added.positions):
        save_in_place(pipeline, args.model)
    print(f"added:         {len(added.positions)}")
    print(f"already there: {len(added.known)}")
    print(f"skipped:       {len(added.skipped)}")
    for path, reason in added.skipped:
        print(f"  {path}: {reason}")
    print(f"images now:    {len(pipeline.codes_)} in {args.model}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    """Take images out of the save, save in place and print what changed."""
    from .pipeline import Pipeline  # after the command has quieted TensorFlow

    pipeline = Pipeline.load(args.model)
    before = len(pipeline.codes_)
    pipeline.remove(args.paths)
    save_in_place(pipeline, args.model)
    print(f"removed:       {before - len(pipeline.codes_)}")
    print(f"images now:    {len(pipeline.codes_)} in {args.model}")
    return 0


@contextlib.contextmanager
def workers(args: argparse.Namespace):
    """The Dask client ``--workers`` or ``--scheduler`` asks for, or None to encode in this process."""
    if args.workers is None and args.scheduler is None:
        yield None
        return
    from . import distributed

    if args.scheduler is not None:
        with distributed.connect(args.scheduler) as client:
            yield client
    else:
        with distributed.local_client(args.workers) as client:
            yield client


def save_in_place(pipeline, model: str) -> None:
    """Replace the save atomically, then write its clusters.csv anew."""
    pipeline.save(model)
    write_clusters_csv(pipeline, os.path.join(model, CLUSTERS_FILE))
