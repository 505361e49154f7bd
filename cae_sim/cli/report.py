"""Write a static HTML report of a save: clusters, a map, each image's neighbours, near-duplicates.

The page is REPORT/index.html (--out), readable offline in any browser.
"""

from __future__ import annotations

import argparse

from .arguments import add_n_jobs_option, add_save_argument, check_folder, check_output, positive_int, threshold

PROGRESS = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the report command's arguments to ``parser``."""
    from ..report import DEFAULT_NEIGHBORS, DEFAULT_PER_CLUSTER

    add_save_argument(parser)
    parser.add_argument("--out", default="report", metavar="REPORT",
                        help="report folder, replaced if it holds an earlier report (default: report)")
    parser.add_argument("--per-cluster", type=positive_int, default=DEFAULT_PER_CLUSTER, metavar="N",
                        help=f"most central images shown per cluster (default: {DEFAULT_PER_CLUSTER})")
    parser.add_argument("--neighbors", type=positive_int, default=DEFAULT_NEIGHBORS, metavar="N",
                        help=f"nearest images listed for each image (default: {DEFAULT_NEIGHBORS})")
    parser.add_argument("--threshold", type=threshold, default=None, metavar="T",
                        help="similarity from which images are near-duplicates (default: the threshold calibrated "
                        "on the collection's own images when it was trained)")
    add_n_jobs_option(parser, "making thumbnails")


def check(args: argparse.Namespace) -> None:
    """Raise FileNotFoundError if the save's folder, or the folder that would hold --out, is not there; OSError if
    --out holds anything but an earlier report (checked again when the report is written)."""
    from ..report.layout import check_replaceable

    check_folder(args.model)
    check_output(args.out)
    check_replaceable(args.out)


def run(args: argparse.Namespace) -> int:
    """Write the report and print where its page is."""
    from ..pipeline import Pipeline
    from ..report import write_report

    pipeline = Pipeline.load(args.model)
    page = write_report(pipeline, args.out, per_cluster=args.per_cluster, neighbors=args.neighbors,
                        threshold=args.threshold, n_jobs=args.n_jobs, verbose=0 if args.quiet else 1)
    print(f"report of {len(pipeline.codes_)} images in {len(set(pipeline.labels_.tolist()))} clusters -> {page}")
    return 0
