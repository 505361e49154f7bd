"""K-Means over codes, with the number of clusters given or chosen by silhouette."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.metrics import euclidean_distances, silhouette_score
from sklearn.utils.validation import check_is_fitted

from ._checks import check_codes, check_int, check_n_clusters, check_random_state


class KMeansClustering(BaseEstimator):
    """Group codes with K-Means.

    Parameters
    ----------
    n_clusters : int or "auto", default="auto"
        Number of clusters. ``"auto"`` tries every k in ``k_range`` on a sample
        of the codes and keeps the one with the best silhouette score.
    k_range : tuple of (int, int), default=(2, 20)
        Smallest and largest k tried by ``"auto"`` (capped at n_samples - 1).
    sample_size : int, default=5000
        Codes sampled to score each k with ``"auto"``.
    n_init : int, default=10
        K-Means restarts; the best inertia is kept.
    random_state : int or None, default=None
        Seed of K-Means and of the sample.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,), int
    cluster_centers_ : ndarray of shape (n_clusters_, n_features), float32
    n_clusters_ : int
        The number of clusters used (the chosen one with ``"auto"``).
    scores_ : dict of int to float
        Silhouette score of each k tried (empty for a fixed k).
    """

    def __init__(self, *, n_clusters="auto", k_range=(2, 20), sample_size=5000, n_init=10, random_state=None):
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.sample_size = sample_size
        self.n_init = n_init
        self.random_state = random_state

    def fit(self, codes: np.ndarray) -> "KMeansClustering":
        """Cluster codes (n_samples, n_features); return self.

        Raises
        ------
        ValueError
            If the codes are not a finite 2-d array, or ``n_clusters`` exceeds the number of codes.
        """
        codes = check_codes(codes)
        check_int("n_init", self.n_init)
        check_int("sample_size", self.sample_size, minimum=2)
        seed = check_random_state(self.random_state)
        if check_n_clusters(self.n_clusters) == "auto":
            self.scores_ = self._score_candidates(codes, seed)
            k = max(self.scores_, key=self.scores_.get) if self.scores_ else 1
        else:
            k = self.n_clusters
            if k > len(codes):
                raise ValueError(f"n_clusters={k} is larger than the number of images ({len(codes)})")
            self.scores_ = {}
        kmeans = KMeans(n_clusters=k, n_init=self.n_init, random_state=seed).fit(codes)
        self.n_clusters_ = k
        self.labels_ = kmeans.labels_.astype(np.int64)
        self.cluster_centers_ = kmeans.cluster_centers_.astype(np.float32)
        return self

    def predict(self, codes: np.ndarray) -> np.ndarray:
        """Return the nearest cluster of each code, shape (n_samples,)."""
        return self.transform(codes).argmin(axis=1)

    def transform(self, codes: np.ndarray) -> np.ndarray:
        """Return the distance of each code to each cluster centre, shape (n_samples, n_clusters_)."""
        check_is_fitted(self, "cluster_centers_")
        codes = check_codes(codes, self.cluster_centers_.shape[1])
        return euclidean_distances(codes, self.cluster_centers_).astype(np.float32)

    def _score_candidates(self, codes: np.ndarray, seed: int | None) -> dict[int, float]:
        low, high = self._check_k_range()
        high = min(high, len(codes) - 1)
        rng = np.random.default_rng(seed)
        sample = codes[rng.choice(len(codes), self.sample_size, replace=False)] if len(codes) > self.sample_size else codes
        scores = {}
        for k in range(low, high + 1):
            labels = KMeans(n_clusters=k, n_init=self.n_init, random_state=seed).fit_predict(sample)
            if len(np.unique(labels)) > 1:
                scores[k] = float(silhouette_score(sample, labels))
        return scores

    def _check_k_range(self) -> tuple[int, int]:
        try:
            low, high = self.k_range
            low, high = check_int("k_range[0]", low, minimum=2), check_int("k_range[1]", high, minimum=2)
        except (TypeError, ValueError):
            raise ValueError(f"k_range must be two ints (low, high) with 2 <= low <= high, got {self.k_range!r}") from None
        if low > high:
            raise ValueError(f"k_range must be two ints (low, high) with 2 <= low <= high, got {self.k_range!r}")
        return low, high
