"""Print the images of a save most like each of one or more images, best first.

Each IMAGE is an image file or a folder, which stands for the images in it (recursively). All are looked up in one
call: the save loads once. Each match comes with its query (the image looked up, as given or as found in its folder),
rank, score, kind ("copy" or "similar" by the collection's near-duplicate calibration) and absolute path: in text, an
aligned table under each query's "query: PATH" line, a blank line between queries; with --format, a JSON list or a CSV
table with the query in the first column. An image that cannot be read is skipped with a warning; the status is 2
when no image could be read or a path does not exist.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from .._files import printable
from .arguments import add_save_argument, check_exists, check_folder, positive_int

if TYPE_CHECKING:
    from ..pipeline import Match, Pipeline

PROGRESS = False
#: Columns of the json and csv output.
QUERY_FIELDS = ("query", "rank", "index", "path", "score", "kind")
#: One match as the command prints it: the ``QUERY_FIELDS``.
Row = dict[str, int | str | float | None]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the query command's arguments to ``parser``."""
    add_save_argument(parser)
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image file to look up, or a folder: each image in it")
    parser.add_argument("-n", type=positive_int, default=10, help="how many matches per image (default: 10)")
    parser.add_argument("--format", choices=QUERY_FORMATS, default="text",
                        help="output: aligned tables (default), JSON list or CSV, each match with its query")
    parser.add_argument("--exclude-self", action="store_true", help="leave out the query file itself if the save holds it")


def check(args: argparse.Namespace) -> None:
    """Raise FileNotFoundError if the save's folder or one of the images is not there."""
    check_folder(args.model)
    for image in args.images:
        check_exists(image)


def run(args: argparse.Namespace) -> int:
    """Print the save's images nearest to each image, in ``args.format``."""
    from ..pipeline import Pipeline

    pipeline = Pipeline.load(args.model).set_params(verbose=0)  # the matches alone: no progress bars
    print_matches(query_all(pipeline, args.images, args.n, args.exclude_self), args.format)
    return 0


def query_all(pipeline: Pipeline, images: list[str], n: int, exclude_self: bool) -> list[Row]:
    """Look up each image of ``images`` (files and folders) in ``pipeline``; return the rows of all their matches.

    An image that cannot be read, a folder's entry that is no file and a folder without images are skipped with
    a warning.

    Parameters
    ----------
    pipeline : Pipeline
        The loaded save.
    images : list of str
        Image files and folders, as given.
    n : int
        Matches per image.
    exclude_self : bool
        Leave out the query file itself; see ``Pipeline.query``.

    Returns
    -------
    list of dict
        The ``query_rows`` of each image read, in the order of ``images``.

    Raises
    ------
    ValueError
        If no image could be read, naming the paths given.
    """
    from ..images import ImageReadError

    rows = []
    for image in query_files(images):
        try:
            matches = pipeline.query(image, n=n, exclude_self=exclude_self)
        except ImageReadError as error:
            warnings.warn(f"skipped {error}")
            continue
        rows += query_rows(image, matches, pipeline.describe_score)
    if not rows:
        raise ValueError(f"no image could be read from {', '.join(map(repr, images))}")
    return rows


def query_files(images: list[str]) -> Iterator[str]:
    """Yield the image files of ``images``: a file as given, a folder's images as ``find_images`` lists them.

    A folder's entries named like images that are no files, and a folder without images, are warned about.
    """
    from ..images import IMAGE_EXTENSIONS, find_images

    for image in images:
        if not os.path.isdir(image):
            yield image
            continue
        paths, skipped = find_images(image)
        for path, reason in skipped:
            warnings.warn(f"skipped {path}: {reason}")
        if not paths:
            warnings.warn(f"no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) in folder {image!r}")
        yield from paths


def query_rows(query: str, matches: list[Match], describe: Callable[[float], str]) -> list[Row]:
    """Return one dict of ``QUERY_FIELDS`` per match of the image ``query`` (the path None for a collection of arrays).

    ``score`` has 6 decimals, as in the other CSV files. ``kind`` is ``describe(score)``: ``Pipeline.describe_score``
    says "copy" or "similar" by the collection's near-duplicate calibration.
    """
    return [
        {"query": query, "rank": rank, "index": m.index, "path": m.path, "score": round(m.score, 6),
         "kind": describe(m.score)}
        for rank, m in enumerate(matches, start=1)
    ]


def print_matches(rows: list[Row], output_format: str) -> None:
    """Write the rows of ``query_rows`` to standard output in one of ``QUERY_FORMATS``.

    Parameters
    ----------
    rows : list of dict
        The rows of ``query_rows``, of one or more queries.
    output_format : {"text", "json", "csv"}
        ``"text"``: for each query, a ``query: PATH`` line, then an aligned
        ``rank score kind path`` table under a header line (kind ``-`` where it
        is empty, ``#index`` for an image without a path), a blank line between
        queries; ``"json"``: a list of objects; ``"csv"``: a
        ``query,rank,index,path,score,kind`` header, then one line per row.
    """
    _QUERY_WRITERS[output_format](rows)


def _write_text(rows: list[Row]) -> None:
    starts = [i for i, row in enumerate(rows) if row["rank"] == 1]  # a query given twice is two tables
    for start, end in zip(starts, [*starts[1:], len(rows)]):
        if start:
            print()
        print(f"query: {printable(rows[start]['query'])}")
        _write_table(rows[start:end])


def _write_table(rows: list[Row]) -> None:
    print(f"{'rank':>4}  {'score':>6}  {'kind':<7}  path")
    for row in rows:
        where = printable(row["path"]) if row["path"] is not None else f"#{row['index']}"
        print(f"{row['rank']:4d}  {row['score']:6.4f}  {row['kind'] or '-':<7}  {where}")


def _write_json(rows: list[Row]) -> None:
    print(json.dumps(rows, indent=2))


def _write_csv(rows: list[Row]) -> None:
    from ..exports import write_csv_rows

    write_csv_rows(sys.stdout, [QUERY_FIELDS, *([row[field] for field in QUERY_FIELDS] for row in rows)])


_QUERY_WRITERS = {"text": _write_text, "json": _write_json, "csv": _write_csv}
#: Output formats of the command.
QUERY_FORMATS = tuple(_QUERY_WRITERS)
