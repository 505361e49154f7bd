"""``python -m cae_sim report DIR``: write the HTML report of a saved pipeline."""

from __future__ import annotations

import argparse

from ..train import positive_int, threshold_arg
from . import DEFAULT_NEIGHBORS, DEFAULT_PER_CLUSTER


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of the report command to ``parser``."""
    parser.add_argument("model", help="directory written by train")
    parser.add_argument("--out", default="report", help="report folder, replaced if it holds an earlier report (default: report)")
    parser.add_argument("--per-cluster", type=positive_int, default=DEFAULT_PER_CLUSTER,
                        help=f"most central images shown per cluster (default: {DEFAULT_PER_CLUSTER})")
    parser.add_argument("--neighbors", type=positive_int, default=DEFAULT_NEIGHBORS,
                        help=f"nearest images listed for each image (default: {DEFAULT_NEIGHBORS})")
    parser.add_argument("--threshold", type=threshold_arg, default=None,
                        help="similarity from which images are near-duplicates (default: the threshold calibrated "
                        "on the collection's own images when it was trained)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run_report(args: argparse.Namespace) -> int:
    """Write the report of the saved pipeline and print where its page is."""
    from ..pipeline import Pipeline  # after the command has quieted TensorFlow
    from . import write_report

    pipeline = Pipeline.load(args.model)
    page = write_report(pipeline, args.out, per_cluster=args.per_cluster, neighbors=args.neighbors,
                        threshold=args.threshold, verbose=0 if args.quiet else 1)
    print(f"report of {len(pipeline.codes_)} images in {len(set(pipeline.labels_.tolist()))} clusters -> {page}")
    return 0
