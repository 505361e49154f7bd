"""Nearest-neighbour search over codes, behind one small interface."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
from sklearn.neighbors import NearestNeighbors

from ._checks import check_choice, check_codes, check_int
from .codes import l2_normalize

METRICS = ("cosine", "euclidean", "hamming")


class NeighborIndex(ABC):
    """Finds the codes nearest to query codes.

    A back end implements ``_build`` and ``_search``; distances are those of
    ``metric`` and scores turn them into similarities, higher for closer:

    - ``"cosine"``: distance 1 − cosine similarity; score the cosine similarity.
    - ``"euclidean"``: distance the euclidean one; score 1 / (1 + distance).
    - ``"hamming"``: codes are binarised by sign (a value > 0 is bit 1);
      distance the number of differing bits (a whole number); score
      1 − distance / n_bits, in [0, 1], where n_bits is the codes' width.
      Meant for the ±1 codes of the hash encoders (``"phash"``, ``"dhash"``),
      where it ranks exactly as cosine does.

    Parameters
    ----------
    metric : {"cosine", "euclidean", "hamming"}, default="cosine"
    """

    def __init__(self, metric: str = "cosine"):
        self.metric = check_choice("metric", metric, METRICS)

    def fit(self, codes: np.ndarray) -> "NeighborIndex":
        """Index codes of shape (n_samples, d); return self."""
        self.codes_ = check_codes(codes)
        self._build(self._prepare(self.codes_))
        return self

    def kneighbors(self, codes: np.ndarray, n_neighbors: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Return (distances, indices), each (n_queries, k), nearest first.

        ``k`` is ``n_neighbors`` or the number of indexed codes if that is smaller.

        Raises
        ------
        ValueError
            If ``n_neighbors`` < 1 or the codes do not match the index's width.
        """
        if not hasattr(self, "codes_"):
            raise ValueError("the index is empty: call fit(codes) first")
        n_neighbors = min(check_int("n_neighbors", n_neighbors), len(self.codes_))
        queries = self._prepare(check_codes(codes, self.codes_.shape[1]))
        distances, indices = self._search(queries, n_neighbors)
        return distances.astype(np.float32), indices.astype(np.int64)

    def score(self, distances: np.ndarray) -> np.ndarray:
        """Turn distances into similarities, higher for closer.

        Cosine: the cosine similarity (1 − distance); euclidean: 1 / (1 + distance);
        hamming: 1 − distance / n_bits, the fraction of equal bits (needs a fitted index for n_bits).
        """
        distances = np.asarray(distances)
        if self.metric == "cosine":
            return (1.0 - distances).astype(np.float32)
        if self.metric == "hamming":
            if not hasattr(self, "codes_"):
                raise ValueError("hamming scores need the codes' width: call fit(codes) first")
            return (1.0 - distances / self.codes_.shape[1]).astype(np.float32)
        return (1.0 / (1.0 + distances)).astype(np.float32)

    def distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Distance between paired rows of two (n, d) code arrays, in the index's metric."""
        a = self._prepare(check_codes(a, name="a"))
        b = self._prepare(check_codes(b, a.shape[1], name="b"))
        if self.metric == "cosine":
            return _squared_to_cosine(np.sum((a - b) ** 2, axis=1))
        if self.metric == "hamming":
            return np.count_nonzero(a != b, axis=1).astype(np.float32)
        return np.linalg.norm(a - b, axis=1).astype(np.float32)

    def _prepare(self, codes: np.ndarray) -> np.ndarray:
        if self.metric == "cosine":
            return l2_normalize(codes)
        if self.metric == "hamming":
            return (codes > 0).astype(np.float32)
        return codes

    @abstractmethod
    def _build(self, codes: np.ndarray) -> None:
        """Build the search structure over prepared codes."""

    @abstractmethod
    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (distances in the metric, indices) of the k nearest codes, nearest first."""


class SklearnIndex(NeighborIndex):
    """Exact search with scikit-learn's ``NearestNeighbors``.

    For the cosine metric codes are L2-normalised and searched by euclidean
    distance, which orders them the same way and lets scikit-learn use its
    trees; squared distances d² map back to cosine distances as d² / 2. For
    the hamming metric codes are 0/1 bits, whose squared euclidean distance is
    the number of differing bits (rounded to a whole number).
    """

    def _build(self, codes: np.ndarray) -> None:
        self.model_ = NearestNeighbors(metric="euclidean").fit(codes)

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        distances, indices = self.model_.kneighbors(queries, n_neighbors=k)
        if self.metric == "cosine":
            distances = _squared_to_cosine(distances**2)
        elif self.metric == "hamming":
            distances = np.rint(distances**2)
        return distances, indices


def _squared_to_cosine(squared: np.ndarray) -> np.ndarray:
    return np.clip(squared / 2.0, 0.0, 2.0).astype(np.float32)
