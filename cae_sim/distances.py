"""How two codes are compared: cosine, euclidean and hamming, as objects of ``DISTANCES``.

A distance prepares codes (unit length for cosine, 0/1 bits for hamming) so that the squared euclidean distance of
prepared codes ranks as the metric does; it turns those squared distances into its own, and its distances into
scores (similarities, higher for closer: what a ``Match`` reports and a near-duplicate threshold is compared with).
Everywhere a metric is taken, its name does as well as the object: ``get_distance("cosine")``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from ._registry import DISTANCES
from .codes import l2_normalize


class Distance(ABC):
    """One metric: prepare codes, measure prepared codes, score distances, check thresholds.

    Attributes
    ----------
    name : str
        The name ``metric=`` takes.
    lowest_threshold : float
        The lowest score a near-duplicate threshold may be; scores are at most 1.
    lowest_included : bool
        Whether ``lowest_threshold`` itself may be used (not where it would link every pair).
    """

    name: ClassVar[str]
    lowest_threshold: ClassVar[float]
    lowest_included: ClassVar[bool]

    def prepare(self, codes: np.ndarray) -> np.ndarray:
        """Return codes (n, d) as the metric measures them: the squared euclidean distance of prepared codes ranks
        as the metric does. Unchanged here."""
        return codes

    @abstractmethod
    def from_squared(self, squared: np.ndarray) -> np.ndarray:
        """Return the metric's distances from squared euclidean distances of prepared codes (float32)."""

    @abstractmethod
    def score(self, distances: np.ndarray, n_features: int | None = None) -> np.ndarray:
        """Return the similarity of each distance, higher for closer, at most 1 (float32).

        Parameters
        ----------
        distances : ndarray
            Distances of this metric.
        n_features : int or None, default=None
            The codes' width, for a metric whose score needs it.

        Raises
        ------
        ValueError
            If the metric's score needs ``n_features`` and it is None.
        """

    def paired(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Return the distance between paired rows of two prepared code arrays (n, d), float32."""
        difference = np.asarray(a, np.float32) - np.asarray(b, np.float32)
        return self.from_squared(np.einsum("nd,nd->n", difference, difference))

    def check_threshold(self, threshold) -> float:
        """Return ``threshold`` as a float if it is a number within the metric's thresholds.

        Raises
        ------
        ValueError
            Naming the threshold and the range, if it is not a finite number in that range (a bool is not a number).
        """
        number = isinstance(threshold, (int, float, np.integer, np.floating)) and not isinstance(threshold, (bool, np.bool_))
        above = number and (threshold >= self.lowest_threshold if self.lowest_included else threshold > self.lowest_threshold)
        if not (above and threshold <= 1):  # NaN fails every comparison
            raise ValueError(f"threshold must be a number in {self.threshold_range()} for metric {self.name!r}, got {threshold!r}")
        return float(threshold)

    def threshold_range(self) -> str:
        """The thresholds this metric takes, as an interval: ``"[-1, 1]"``, ``"(0, 1]"``."""
        return f"{'[' if self.lowest_included else '('}{self.lowest_threshold:g}, 1]"

    def __eq__(self, other) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Cosine(Distance):
    """Cosine distance 1 − cos(a, b), in [0, 2]; score: the cosine similarity, in [-1, 1]. Ignores the codes' length."""

    name = "cosine"
    lowest_threshold = -1.0
    lowest_included = True

    def prepare(self, codes: np.ndarray) -> np.ndarray:
        """Return the codes scaled to unit length (zero codes stay zero)."""
        return l2_normalize(codes)

    def from_squared(self, squared: np.ndarray) -> np.ndarray:
        """For unit codes, |a − b|² = 2 − 2 cos(a, b): the distance is half of it."""
        return np.clip(np.asarray(squared) / 2.0, 0.0, 2.0).astype(np.float32)

    def score(self, distances: np.ndarray, n_features: int | None = None) -> np.ndarray:
        """Return the cosine similarity, 1 − distance."""
        return (1.0 - np.asarray(distances)).astype(np.float32)


class Euclidean(Distance):
    """Euclidean distance; score 1 / (1 + distance), in (0, 1]."""

    name = "euclidean"
    lowest_threshold = 0.0
    lowest_included = False  # every pair scores above 0

    def from_squared(self, squared: np.ndarray) -> np.ndarray:
        """Return the square root of the (non-negative) squared distances."""
        return np.sqrt(np.maximum(squared, 0.0)).astype(np.float32)

    def score(self, distances: np.ndarray, n_features: int | None = None) -> np.ndarray:
        """Return 1 / (1 + distance)."""
        return (1.0 / (1.0 + np.asarray(distances))).astype(np.float32)


class Hamming(Distance):
    """The number of differing bits of codes binarised by sign (a value > 0 is bit 1); score 1 − bits / n_bits, in
    [0, 1]. For the ±1 codes of the hash encoders it ranks as cosine does."""

    name = "hamming"
    lowest_threshold = 0.0
    lowest_included = False  # a threshold of 0 links every pair

    def prepare(self, codes: np.ndarray) -> np.ndarray:
        """Return the codes' bits as float32 0/1: 1 where a value is > 0."""
        return (np.asarray(codes) > 0).astype(np.float32)

    def from_squared(self, squared: np.ndarray) -> np.ndarray:
        """For 0/1 bits, the squared distance counts the differing bits: rounded to the whole number."""
        return np.rint(np.maximum(squared, 0.0)).astype(np.float32)

    def score(self, distances: np.ndarray, n_features: int | None = None) -> np.ndarray:
        """Return the share of equal bits, 1 − distance / n_features."""
        if n_features is None:
            raise ValueError("hamming scores need the codes' width n_features (an index has it once fitted)")
        return (1.0 - np.asarray(distances) / n_features).astype(np.float32)


COSINE, EUCLIDEAN, HAMMING = (DISTANCES.register(distance.name, distance) for distance in (Cosine(), Euclidean(), Hamming()))


def get_distance(metric: str | Distance) -> Distance:
    """Return the distance object of a metric name (``"cosine"``, ``"euclidean"``, ``"hamming"``) or object.

    Raises
    ------
    ValueError
        Naming ``metric`` and the metric names, if it is neither.
    """
    return DISTANCES.get(metric)
