"""``python -m cae_sim`` (or ``cae-sim``): the ``train``, ``query``, ``add``, ``remove``, ``duplicates``, ``report`` and ``match`` commands."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from typing import TYPE_CHECKING, Callable

from ._files import write_atomically
from .report.command import add_report_arguments, run_report
from .train import add_train_arguments, guarded, positive_int, run_train, threshold_arg
from .update import add_add_arguments, add_remove_arguments, run_add, run_remove

if TYPE_CHECKING:
    from .pipeline import Match, Pipeline

#: Top-n rows printed by ``match`` (and every n up to --top in the accuracy CSV).
SHOWN_TOP_N = (1, 2, 3, 5, 10, 15, 20, 50)
#: Columns of the json and csv output of ``query``.
QUERY_FIELDS = ("rank", "index", "path", "score", "kind")
#: Columns of the CSV of ``duplicates``.
DUPLICATE_FIELDS = ("group", "index", "path")
#: One match as ``query`` prints it: the ``QUERY_FIELDS``.
Row = dict[str, int | str | float | None]


def run_query(args: argparse.Namespace) -> int:
    """Print the saved pipeline's images nearest to an image, best first, in ``args.format``."""
    from .pipeline import Pipeline  # after the command has quieted TensorFlow

    pipeline = Pipeline.load(args.model)
    matches = query_matches(pipeline, args.image, args.n, args.exclude_self)
    print_matches(query_rows(matches, pipeline.describe_score), args.format)
    return 0


def query_matches(pipeline: Pipeline, image: str, n: int, exclude_self: bool) -> list[Match]:
    """Return the ``n`` fitted images most like the file ``image``, best first.

    Parameters
    ----------
    pipeline : Pipeline
        A fitted pipeline.
    image : str
        Path of the image to look up.
    n : int
        How many matches; fewer if the pipeline holds fewer images.
    exclude_self : bool
        Leave out the fitted images that are the file ``image`` itself (same
        resolved path); still ``n`` matches when enough others exist.

    Returns
    -------
    list of Match
    """
    if not exclude_self:
        return pipeline.query(image, n=n)
    itself = os.path.realpath(image)
    others = [m for m in pipeline.query(image, n=n + 1) if m.path is None or os.path.realpath(m.path) != itself]
    return others[:n]


def query_rows(matches: list[Match], describe: Callable[[float], str]) -> list[Row]:
    """Return one dict of ``QUERY_FIELDS`` per match; paths made absolute, None kept.

    ``kind`` is ``describe(score)``: ``Pipeline.describe_score`` says "copy" or "similar" by the collection's
    near-duplicate calibration.
    """
    return [
        {"rank": rank, "index": m.index, "path": None if m.path is None else os.path.abspath(m.path), "score": m.score,
         "kind": describe(m.score)}
        for rank, m in enumerate(matches, start=1)
    ]


def print_matches(rows: list[Row], output_format: str) -> None:
    """Write the rows of ``query_rows`` to standard output in one of ``QUERY_FORMATS``.

    Parameters
    ----------
    rows : list of dict
        The rows of ``query_rows``.
    output_format : {"text", "json", "csv"}
        ``"text"``: an aligned ``rank score kind path`` table under a header
        line (kind ``-`` where it is empty, ``#index`` for an image without a
        path); ``"json"``: a list of
        objects; ``"csv"``: a ``rank,index,path,score,kind`` header, then one
        line per row.

    Raises
    ------
    ValueError
        If ``output_format`` is not one of ``QUERY_FORMATS``.
    """
    try:
        write = _QUERY_WRITERS[output_format]
    except KeyError:
        raise ValueError(f"unknown output format {output_format!r}; choose one of: {', '.join(QUERY_FORMATS)}") from None
    write(rows)


def _write_text(rows: list[Row]) -> None:
    print(f"{'rank':>4}  {'score':>6}  {'kind':<7}  path")
    for row in rows:
        where = row["path"] if row["path"] is not None else f"#{row['index']}"
        print(f"{row['rank']:4d}  {row['score']:6.4f}  {row['kind'] or '-':<7}  {where}")


def _write_json(rows: list[Row]) -> None:
    print(json.dumps(rows, indent=2))


def _write_csv(rows: list[Row]) -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=QUERY_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


_QUERY_WRITERS = {"text": _write_text, "json": _write_json, "csv": _write_csv}
#: Output formats of ``query``.
QUERY_FORMATS = tuple(_QUERY_WRITERS)


def add_query_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of the query command to ``parser``."""
    parser.add_argument("model", help="directory written by train")
    parser.add_argument("image", help="image file to look up")
    parser.add_argument("-n", type=positive_int, default=10, help="how many matches (default: 10)")
    parser.add_argument("--format", choices=QUERY_FORMATS, default="text", help="output: aligned table (default), JSON list or CSV")
    parser.add_argument("--exclude-self", action="store_true", help="leave out the query file itself if the pipeline holds it")


def add_duplicates_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of the duplicates command to ``parser``."""
    parser.add_argument("model", help="directory written by train")
    parser.add_argument(
        "--threshold", type=threshold_arg, default=None,
        help="lowest similarity that links two images (default: the threshold calibrated on the collection's own "
        "images when it was trained, for an estimated precision of 0.98)",
    )
    parser.add_argument("--out", help="write the CSV to this file (atomically) instead of standard output")


def run_duplicates(args: argparse.Namespace) -> int:
    """Write the saved pipeline's groups of near-duplicates as a ``group,index,path`` CSV, to --out or standard output."""
    from .pipeline import Pipeline  # after the command has quieted TensorFlow

    pipeline = Pipeline.load(args.model)
    groups = pipeline.duplicates(args.threshold)
    text = duplicates_csv(groups, pipeline.paths_)
    if args.out is None:
        sys.stdout.write(text)
        return 0
    write_atomically(args.out, lambda file: file.write(text.encode("utf-8")))
    n_images = sum(len(group) for group in groups)
    print(f"{len(groups)} group{'s' if len(groups) != 1 else ''} of near-duplicates ({n_images} images) -> {args.out}")
    return 0


def duplicates_csv(groups: list[list[int]], paths: list[str] | None) -> str:
    """The ``group,index,path`` CSV of ``Pipeline.duplicates``' groups: groups numbered from 1, one row per image.

    Paths are made absolute; the path is empty for a pipeline fitted on an array.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(DUPLICATE_FIELDS)
    for number, group in enumerate(groups, start=1):
        writer.writerows([number, i, "" if paths is None else os.path.abspath(paths[i])] for i in group)
    return buffer.getvalue()


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
    parser.add_argument("--top", type=positive_int, default=15, help="matches per target (default: 15)")
    parser.add_argument("--out", default="matches.csv", help="CSV of the matches (default: matches.csv)")
    parser.add_argument("--seed", type=int, default=None, help="random seed, for repeatable runs")


#: Each command: name, help, the function adding its options, the function running it, and whether it is always
#: quiet (no --quiet option: it prints its result alone, with no progress or log lines).
COMMANDS = (
    ("train", "fit a pipeline on a folder and save it", add_train_arguments, run_train, False),
    ("query", "print the images of a saved pipeline most like an image", add_query_arguments, run_query, True),
    ("add", "add a folder's new images to a saved pipeline, in place (no retraining)", add_add_arguments, run_add, False),
    ("remove", "take images out of a saved pipeline, in place", add_remove_arguments, run_remove, True),
    ("duplicates", "print the groups of near-duplicate images of a saved pipeline as CSV", add_duplicates_arguments, run_duplicates, True),
    ("report", "write an HTML report of a saved pipeline: clusters, map, neighbours, duplicates", add_report_arguments, run_report, False),
    ("match", "find the closest source images of every target image", add_match_arguments, run_match, True),
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m cae_sim`` and the ``cae-sim`` script."""
    parser = argparse.ArgumentParser(prog="cae-sim", description="Group images and find similar ones.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text, add_arguments, run, quiet in COMMANDS:
        command = commands.add_parser(name, help=help_text)
        add_arguments(command)
        command.set_defaults(run=run)
        if quiet:
            command.set_defaults(quiet=True)
    args = parser.parse_args(argv)
    return guarded(args.run, args)


if __name__ == "__main__":
    sys.exit(main())
