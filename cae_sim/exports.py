"""A fitted pipeline's tables as CSV: its clusters (``clusters.csv`` beside a save) and its near-duplicate groups.

Files are written atomically (a reader sees the old file or the whole new one); paths are the collection's (absolute),
empty for images given as an array.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, TextIO

from ._files import write_atomically

if TYPE_CHECKING:
    from .pipeline import Pipeline

#: The file ``write_clusters_csv`` writes beside a save, by the commands that change one.
CLUSTERS_FILE = "clusters.csv"
#: Columns of the clusters CSV.
CLUSTER_FIELDS = ("path", "cluster", "distance_to_center")
#: Columns of the duplicates CSV.
DUPLICATE_FIELDS = ("group", "index", "path", "score")


def write_clusters_csv(pipeline: Pipeline, path: str | os.PathLike) -> None:
    """Write ``path,cluster,distance_to_center``, one row per image of the collection, in its order.

    Parameters
    ----------
    pipeline : Pipeline
        A fitted pipeline.
    path : str or path-like
        The CSV file, replaced atomically.
    """
    distances = pipeline.distance_to_center()
    paths = pipeline.paths_ if pipeline.paths_ is not None else [""] * len(distances)
    rows = ((name, int(label), f"{distance:.6f}") for name, label, distance in zip(paths, pipeline.labels_, distances))
    _write_csv_atomically(path, CLUSTER_FIELDS, rows)


def duplicates_csv(groups: list[list[int]], paths: Sequence[str] | None, scores: Sequence[Sequence[float]]) -> str:
    """Return the ``group,index,path,score`` CSV of ``Pipeline.duplicates``' groups: numbered from 1, one row per
    image.

    Parameters
    ----------
    groups : list of list of int
        Positions of the images of each group.
    paths : list of str or None
        The pipeline's ``paths_``.
    scores : list of sequences of float
        Each group's images' scores, in its order: ``pipeline.collection_.duplicate_scores(groups)``, the score of
        each image with its nearest other image (the strongest link that holds it in its group).
    """
    buffer = io.StringIO()
    _write_csv(buffer, DUPLICATE_FIELDS, _duplicate_rows(groups, paths, scores))
    return buffer.getvalue()


def write_duplicates_csv(groups: list[list[int]], paths: Sequence[str] | None, scores: Sequence[Sequence[float]],
                         path: str | os.PathLike) -> None:
    """Write ``duplicates_csv(groups, paths, scores)`` to the file ``path``, replaced atomically."""
    _write_csv_atomically(path, DUPLICATE_FIELDS, _duplicate_rows(groups, paths, scores))


def _duplicate_rows(groups: list[list[int]], paths: Sequence[str] | None,
                    scores: Sequence[Sequence[float]]) -> Iterable[tuple]:
    for number, (group, group_scores) in enumerate(zip(groups, scores, strict=True), start=1):
        for i, score in zip(group, group_scores, strict=True):
            yield number, i, "" if paths is None else paths[i], f"{score:.6f}"


def write_csv_rows(file: TextIO, rows: Iterable[Sequence]) -> None:
    """Write rows as CSV lines ending in ``\\n``, a field quoted where it must be: any file name reads back as it was.

    The csv module quotes a field that holds the line terminator's characters only, so a row with a carriage
    return in a field (legal in a file name) is written with every field quoted.
    """
    plain = csv.writer(file, lineterminator="\n")
    quoted = csv.writer(file, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for row in rows:
        (quoted if any("\r" in str(cell) for cell in row) else plain).writerow(row)


def _write_csv(file: TextIO, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    write_csv_rows(file, [header])
    write_csv_rows(file, rows)


def _write_csv_atomically(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    def write(binary) -> None:
        text = io.TextIOWrapper(binary, encoding="utf-8", errors="surrogateescape", newline="")
        _write_csv(text, header, rows)
        text.flush()
        text.detach()  # write_atomically closes the file itself

    write_atomically(path, write)
