"""Print the images of a save most like an image, best first.

Each match comes with its rank, score, kind ("copy" or "similar" by the collection's near-duplicate calibration) and
absolute path: an aligned table, or with --format a JSON list or a CSV table.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from .arguments import add_save_argument, check_file, check_folder, positive_int

if TYPE_CHECKING:
    from ..pipeline import Match

PROGRESS = False
#: Columns of the json and csv output.
QUERY_FIELDS = ("rank", "index", "path", "score", "kind")
#: One match as the command prints it: the ``QUERY_FIELDS``.
Row = dict[str, int | str | float | None]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the query command's arguments to ``parser``."""
    add_save_argument(parser)
    parser.add_argument("image", metavar="IMAGE", help="image file to look up")
    parser.add_argument("-n", type=positive_int, default=10, help="how many matches (default: 10)")
    parser.add_argument("--format", choices=QUERY_FORMATS, default="text", help="output: aligned table (default), JSON list or CSV")
    parser.add_argument("--exclude-self", action="store_true", help="leave out the query file itself if the save holds it")


def check(args: argparse.Namespace) -> None:
    """Raise FileNotFoundError if the save's folder or the image is not there."""
    check_folder(args.model)
    check_file(args.image)


def run(args: argparse.Namespace) -> int:
    """Print the save's images nearest to the image, in ``args.format``."""
    from ..pipeline import Pipeline

    pipeline = Pipeline.load(args.model)
    matches = pipeline.query(args.image, n=args.n, exclude_self=args.exclude_self)
    print_matches(query_rows(matches, pipeline.describe_score), args.format)
    return 0


def query_rows(matches: list[Match], describe: Callable[[float], str]) -> list[Row]:
    """Return one dict of ``QUERY_FIELDS`` per match (the path None for an image given as an array).

    ``kind`` is ``describe(score)``: ``Pipeline.describe_score`` says "copy" or "similar" by the collection's
    near-duplicate calibration.
    """
    return [
        {"rank": rank, "index": m.index, "path": m.path, "score": m.score, "kind": describe(m.score)}
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
        path); ``"json"``: a list of objects; ``"csv"``: a
        ``rank,index,path,score,kind`` header, then one line per row.
    """
    _QUERY_WRITERS[output_format](rows)


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
#: Output formats of the command.
QUERY_FORMATS = tuple(_QUERY_WRITERS)
