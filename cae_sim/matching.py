"""Source → target matching: the closest source images of every target image, and Top-N accuracy where names pair up.

The seed workflow: a folder of originals (source) and a folder of lower-quality
copies (target). A target and a source file with the same name stem (``a/x.jpg``
and ``b/x.png``) are taken to be a copy and its original, so the results can be
scored without labels.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._checks import check_int
from .images import resolve_source
from .index import ExactIndex
from .metrics import top_n_accuracy
from .pipeline import Match, Pipeline

#: The encoder ``match`` fits on the source when no pipeline is given.
DEFAULT_ENCODER = "contrastive"


@dataclass
class MatchReport:
    """What ``match`` found.

    Attributes
    ----------
    targets : list of str or None
        The target images read, in order (None for array input).
    matches : list of list of Match
        For each target, its closest source images, best first.
    skipped : list of (str, str)
        Target and source files that could not be read, with the reason.
    accuracy : dict of int to float
        Top-n accuracy for n = 1 … top over the targets whose name stem is
        also a source's; empty when none pairs up.
    n_paired : int
        How many targets have a same-named source.
    """

    targets: list[str] | None
    matches: list[list[Match]]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    accuracy: dict[int, float] = field(default_factory=dict)
    n_paired: int = 0

    def first_correct_rank(self, position: int) -> int | None:
        """Rank (1-based) of the first same-named source among a target's matches, or None."""
        if self.targets is None:
            return None
        stem = _stem(self.targets[position])
        ranks = [rank for rank, m in enumerate(self.matches[position], 1) if m.path is not None and _stem(m.path) == stem]
        return ranks[0] if ranks else None

    def write_csv(self, path: str | os.PathLike) -> None:
        """Write one row per target: its path, the rank of its same-named source, then each match's path and score."""
        top = max((len(row) for row in self.matches), default=0)
        with open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as file:
            writer = csv.writer(file)
            writer.writerow(["target", "correct_rank", *[f"{kind}_{n}" for n in range(1, top + 1) for kind in ("match", "score")]])
            for position, row in enumerate(self.matches):
                target = self.targets[position] if self.targets is not None else f"#{position}"
                cells = [cell for m in row for cell in (m.path if m.path is not None else f"#{m.index}", f"{m.score:.6f}")]
                writer.writerow([target, self.first_correct_rank(position) or "", *cells])

    def write_accuracy_csv(self, path: str | os.PathLike) -> None:
        """Write the Top-n accuracy curve: ``n, accuracy`` per line."""
        with open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as file:
            writer = csv.writer(file)
            writer.writerow(["n", "accuracy"])
            writer.writerows([n, f"{value:.6f}"] for n, value in self.accuracy.items())


def match(source, target, *, pipeline: Pipeline | None = None, encoder=DEFAULT_ENCODER, top: int = 15,
          random_state: int | None = None, verbose: int = 0) -> MatchReport:
    """Find the ``top`` closest source images of every target image.

    Parameters
    ----------
    source, target : str, path-like, list of paths, or ndarray
        As ``Pipeline.fit`` takes them: folders (scanned recursively), lists of
        files or arrays. Unreadable files are skipped and reported.
    pipeline : Pipeline or None
        A fitted pipeline: its encoder encodes the source (nothing is
        trained). An unfitted one is fitted on the source. None: a pipeline
        with ``encoder`` is fitted on the source.
    encoder : str, list of str, or Encoder, default="contrastive"
        The encoder when no pipeline is given.
    top : int, default=15
        Matches kept per target (at most the number of source images).
    random_state : int or None
        Seed of the pipeline fitted when none is given.
    verbose : int, default=0
        Of the pipeline fitted when none is given: 1 (or more) draws progress bars on standard error.

    Returns
    -------
    MatchReport

    Raises
    ------
    ValueError
        On a bad ``top``, no readable source or target image, or a bad folder or array; a target folder without
        image files is refused before anything is trained.
    """
    check_int("top", top)
    target, _, target_not_files = resolve_source(target)  # an empty target fails now, not after training
    if pipeline is None:
        pipeline = Pipeline(encoder=encoder, n_clusters=1, clustering="kmeans", random_state=random_state, verbose=verbose)
    if hasattr(pipeline, "encoder_"):  # fitted
        codes, paths, skipped = pipeline.transform_readable(source)
        if codes is None:
            raise ValueError(f"none of the source images could be read; first failure: {skipped[0][0]}: {skipped[0][1]}")
        index = ExactIndex(pipeline.metric).fit(codes)
    else:
        pipeline.fit(source)
        index, paths, skipped = pipeline.index_, pipeline.paths_, list(pipeline.skipped_)
    target_codes, targets, target_skipped = pipeline.transform_readable(target)
    if target_codes is None:
        raise ValueError(f"none of the target images could be read; first failure: {target_skipped[0][0]}: {target_skipped[0][1]}")
    distances, indices = index.kneighbors(target_codes, top)
    matches = [
        [Match(int(i), None if paths is None else paths[i], float(s)) for i, s in zip(row, index.score(d))]
        for row, d in zip(indices, distances)
    ]
    accuracy, n_paired = _top_n_curve(targets, paths, indices)
    return MatchReport(targets, matches, skipped + target_not_files + target_skipped, accuracy, n_paired)


def _top_n_curve(targets, sources, ranked: np.ndarray) -> tuple[dict[int, float], int]:
    if targets is None or sources is None:
        return {}, 0
    by_stem: dict[str, set[int]] = {}
    for position, path in enumerate(sources):
        by_stem.setdefault(_stem(path), set()).add(position)
    paired = [position for position, path in enumerate(targets) if _stem(path) in by_stem]
    if not paired:
        return {}, 0
    relevant = [sorted(by_stem[_stem(targets[p])]) for p in paired]
    curve = {n: top_n_accuracy(relevant, ranked[paired], n) for n in range(1, ranked.shape[1] + 1)}
    return curve, len(paired)


def _stem(path: str) -> str:
    return Path(path).stem

