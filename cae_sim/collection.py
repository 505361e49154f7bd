"""Collection: the encoded images — codes, clusters, paths — and the neighbour index over them; it grows and shrinks."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from sklearn.base import clone

from ._checks import check_codes, check_int
from .calibration import Calibration
from .duplicates import DEFAULT_THRESHOLD, duplicate_groups
from .defaults import choose_index
from .index import INDEXES, NeighborIndex, check_positions


class Match(NamedTuple):
    """One result of a query.

    Attributes
    ----------
    index : int
        Position of the image in the collection.
    path : str or None
        Its file, or None for images given as an array.
    score : float
        Similarity to the query, higher is closer: cosine similarity,
        1 / (1 + euclidean distance) with ``metric="euclidean"``, or
        1 − differing bits / bits with ``metric="hamming"``.
    """

    index: int
    path: str | None
    score: float


class Added(NamedTuple):
    """What ``Pipeline.add`` did: the new images' ``positions`` and ``paths`` (None for arrays), the files
    ``skipped`` as unreadable (with the reason), and those left out as ``known`` (already in the collection)."""

    positions: np.ndarray
    paths: list[str] | None
    skipped: list[tuple[str, str]]
    known: list[str]


class Collection:
    """Codes of images, their clusters and files, searchable by a neighbour index.

    Parameters
    ----------
    codes : ndarray of shape (n_images, d)
        Stored as float32.
    labels : ndarray of shape (n_images,), int
        Cluster of each image.
    paths : list of str or None
        Absolute file of each image; None when the images came as an array.
    index : NeighborIndex, or a callable returning one
        An index fitted on ``codes``; its metric is the collection's. A
        callable (how a save hands over its index) is called on first use.
    skipped : list of (str, str), optional
        Files that could not be read when the collection was built or grown.
    calibration : Calibration or None, optional
        The near-duplicate threshold measured on this collection.

    Raises
    ------
    ValueError
        If the lengths of codes, labels, paths and the index disagree.
    """

    def __init__(self, codes: np.ndarray, labels: np.ndarray, paths: list[str] | None, *,
                 index: NeighborIndex | Callable[[], NeighborIndex], skipped: list[tuple[str, str]] | None = None,
                 calibration: Calibration | None = None):
        if not (isinstance(codes, np.ndarray) and codes.ndim == 2 and codes.dtype == np.float32):
            raise ValueError(f"codes must be a float32 array (n_images, d), got {type(codes).__name__} {np.shape(codes)}")
        self.codes = codes  # not scanned for NaN: a save's codes are memory-mapped and read when needed
        self.labels = np.asarray(labels)
        self.paths = paths
        self._index = index
        self.skipped = list(skipped or [])
        self.calibration = calibration
        lengths = {len(codes), len(self.labels)} | ({len(paths)} if paths is not None else set())
        if isinstance(index, NeighborIndex):
            lengths.add(len(index))
        if len(lengths) != 1:
            raise ValueError(f"codes ({len(codes)}), labels ({len(self.labels)}), paths and index disagree in length")

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def index(self) -> NeighborIndex:
        """The neighbour index over the codes."""
        if not isinstance(self._index, NeighborIndex):
            self._index = self._index()
        return self._index

    # ------------------------------------------------------------------ growing and shrinking

    def split_known(self, items, paths: list[str] | None) -> tuple:
        """Split images to add into those the collection lacks (each once) and the files it holds already.

        ``items`` are the images (an array, or files), ``paths`` their files or None for an array.

        Raises
        ------
        ValueError
            If files are given to a collection of an array's images, or the reverse.
        """
        self._check_same_kind(paths)
        if paths is None:
            return items, []
        seen = set(self.paths)
        new, known = [], []
        for path in paths:
            absolute = os.path.abspath(path)
            (known if absolute in seen else new).append(absolute)
            seen.add(absolute)
        return new, known

    def add(self, codes: np.ndarray, labels: np.ndarray, paths: list[str] | None = None) -> np.ndarray:
        """Append images; return their positions.

        Raises
        ------
        ValueError
            If the codes do not match the collection's width, the lengths
            disagree, or paths are given to a collection without paths (or
            left out of one with them).
        """
        codes = check_codes(codes, self.codes.shape[1])
        if len(labels) != len(codes) or (paths is not None and len(paths) != len(codes)):
            raise ValueError(f"{len(codes)} codes, {len(labels)} labels and {len(paths or [])} paths disagree in length")
        self._check_same_kind(paths)
        start = len(self.codes)
        self.index.add(codes)
        self.codes = np.concatenate([self.codes, codes])
        self.labels = np.concatenate([self.labels, np.asarray(labels, self.labels.dtype)])
        if paths is not None:
            self.paths = self.paths + [os.path.abspath(path) for path in paths]
        return np.arange(start, len(self.codes))

    def _check_same_kind(self, paths: list[str] | None) -> None:
        if (paths is None) != (self.paths is None):
            fitted_on = "an array" if self.paths is None else "files"
            raise ValueError(f"this collection came from {fitted_on}: add {fitted_on} too, so that every image has a path or none has")

    def remove(self, images) -> np.ndarray:
        """Take images out; later images move up to close the gaps, as in a list. Return the positions removed.

        Parameters
        ----------
        images : list of paths, or list of int
            Files of the collection, or positions.

        Raises
        ------
        ValueError
            If a path is not in the collection, a position is out of range, or every image would go.
        """
        positions = self.positions_of(images)
        if len(positions) == len(self.codes):
            raise ValueError(f"cannot remove all {len(positions)} images: a collection keeps at least one (fit anew instead)")
        self.index.remove(positions)
        keep = np.ones(len(self.codes), bool)
        keep[positions] = False
        self.codes, self.labels = self.codes[keep], self.labels[keep]
        if self.paths is not None:
            self.paths = [path for path, kept in zip(self.paths, keep) if kept]
        return positions

    def positions_of(self, images) -> np.ndarray:
        """Positions of images given as files of the collection or as positions; sorted, unique.

        Raises
        ------
        ValueError
            If ``images`` is empty or a string, a path is not in the collection, or a position is out of range.
        """
        if isinstance(images, (str, os.PathLike)) or not len(images):
            raise ValueError(f"expected a non-empty list of paths or positions, got {images!r:.80}")
        if not all(isinstance(image, (str, os.PathLike)) for image in images):
            return check_positions(images, len(self.codes))
        if self.paths is None:
            raise ValueError("this collection came from an array: remove images by position")
        where = {path: i for i, path in enumerate(self.paths)}
        absolute = [os.path.abspath(image) for image in images]
        missing = [os.fspath(image) for image, path in zip(images, absolute) if path not in where]
        if missing:
            raise ValueError(f"not in the collection: {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}")
        return np.unique([where[path] for path in absolute]).astype(np.int64)

    # ------------------------------------------------------------------ searching

    def kneighbors(self, codes: np.ndarray | None = None, n_neighbors: int = 10, exclude=None) -> tuple[np.ndarray, np.ndarray]:
        """Return (distances, positions) of the nearest images, each (n_queries, k), nearest first.

        Parameters
        ----------
        codes : ndarray of shape (n_queries, d) or None
            Query codes; None: every image of the collection is a query and is
            left out of its own neighbours (scikit-learn's convention).
        n_neighbors : int, default=10
            ``k``, or fewer where the collection holds fewer candidates.
        exclude : list of collections of int, optional
            For each query, positions to leave out of its neighbours.

        Raises
        ------
        ValueError
            If ``n_neighbors`` < 1, or the codes do not match the collection's width.
        """
        check_int("n_neighbors", n_neighbors)
        if codes is None:
            distances, positions = self.index.kneighbors(self.codes, n_neighbors + 1)
            left_out = positions == np.arange(len(positions))[:, np.newaxis]
            return _first_kept(distances, positions, ~left_out, min(n_neighbors, len(self.codes) - 1))
        if not exclude:
            return self.index.kneighbors(codes, n_neighbors)
        extra = max(len(positions) for positions in exclude)
        distances, positions = self.index.kneighbors(codes, n_neighbors + extra)
        kept = np.array([~np.isin(row, list(left_out)) for row, left_out in zip(positions, exclude)], bool)
        return _first_kept(distances, positions, kept, min(n_neighbors, len(self.codes) - extra))

    def query(self, code: np.ndarray, n: int = 10, exclude=()) -> list[Match]:
        """Return the ``n`` images nearest to one code of shape (1, d), best first, leaving out ``exclude``."""
        distances, positions = self.kneighbors(code, n, exclude=[tuple(exclude)] if len(exclude) else None)
        scores = self.index.score(distances[0])
        return [Match(int(i), None if self.paths is None else self.paths[i], float(s)) for i, s in zip(positions[0], scores)]

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        """The score of two codes of shape (1, d): that of ``Match``."""
        return float(self.index.score(self.index.distance(a, b))[0])

    # ------------------------------------------------------------------ near-duplicates

    def duplicates(self, threshold: float | None = None) -> list[list[int]]:
        """Return groups of near-duplicate images (positions, ascending; the largest group first).

        Two images are linked when their score is at least ``threshold``
        (None: ``duplicate_threshold``); a group holds images linked directly
        or through others.
        """
        threshold = self.duplicate_threshold if threshold is None else threshold
        return [group.tolist() for group in duplicate_groups(self.index, self.codes, threshold)]

    def duplicate_scores(self, groups: list[list[int]]) -> list[np.ndarray]:
        """Return, for each image of each group, its score with its nearest other image: the strongest link that
        holds it in its group (that nearest image is linked to it, as any other image is that passes the threshold).

        Parameters
        ----------
        groups : list of list of int
            Positions, as ``duplicates`` gives them.

        Returns
        -------
        list of ndarray of float32
            One array per group, in its order; every score is at least the threshold the groups were found with.
        """
        if not groups:
            return []
        positions = np.concatenate(groups).astype(np.int64)
        distances, _ = self.kneighbors(self.codes[positions], 1, exclude=[(i,) for i in positions.tolist()])
        scores = self.index.score(distances[:, 0]).astype(np.float32)
        return np.split(scores, np.cumsum([len(group) for group in groups])[:-1])

    @property
    def duplicate_threshold(self) -> float:
        """The calibrated near-duplicate threshold, or ``DEFAULT_THRESHOLD`` where the collection has no calibration."""
        return DEFAULT_THRESHOLD if self.calibration is None else self.calibration.threshold

    def describe_score(self, score: float) -> str:
        """``"copy"``, ``"similar"`` or ``""`` for a score, by the calibration (``""`` without one)."""
        return "" if self.calibration is None else self.calibration.describe(score)


def _first_kept(distances: np.ndarray, positions: np.ndarray, kept: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``k`` neighbours of each row that ``kept`` marks (every row has at least ``k``)."""
    kept = kept & (np.cumsum(kept, axis=1) <= max(k, 0))
    rows = len(positions)
    return distances[kept].reshape(rows, max(k, 0)), positions[kept].reshape(rows, max(k, 0))


def make_index(index: str | NeighborIndex, metric: str, n_codes: int) -> NeighborIndex:
    """The unfitted index for ``n_codes`` codes: an index object cloned with ``metric``, or the one a name gives
    (``"auto"``: by ``cae_sim.defaults.choose_index``)."""
    if isinstance(index, NeighborIndex):
        return clone(index).set_params(metric=metric)
    return INDEXES[choose_index(index, n_codes)](metric=metric)
