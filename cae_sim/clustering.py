"""Grouping codes into clusters.

- ``Clustering``: the interface every clustering implements.
- ``KMeansClustering``: K-Means, with the number of clusters given or chosen by silhouette.
- ``ManifoldClustering``: a UMAP embedding of the codes, then a Gaussian mixture (the N2D
  recipe). K-Means straight on autoencoder codes finds blobs the codes do not form; UMAP
  first pulls each class's codes together along the manifold they lie on, and a
  full-covariance Gaussian mixture then separates them.

``CLUSTERINGS`` is the registry of their names (``Pipeline(clustering=...)``).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ._checks import check_int, check_n_clusters, check_random_state
from ._registry import CLUSTERINGS
from .distances import Distance, get_distance
from .progress import Progress

logger = logging.getLogger(__name__)


class Clustering(TransformerMixin, ClusterMixin, BaseEstimator, ABC):
    """Groups codes (n_samples, n_features) into clusters, in scikit-learn's manner.

    A subclass implements ``_fit``, ``transform``, ``predict``, ``state`` and
    ``restore``. Fitting sets ``labels_`` (int64), ``cluster_centers_``
    (float32, in the space ``transform`` measures in), ``n_clusters_``,
    ``scores_`` (silhouette of each k tried by ``n_clusters="auto"``) and
    ``n_features_in_``; the fitted arrays of ``state()`` rebuild it with
    ``restore`` for a save without pickle.
    """

    #: Whether a pipeline gives it the codes as its metric prepares them (unit length for
    #: cosine, 0/1 bits for hamming), so that its clusters and the neighbour index agree;
    #: False for a clustering that learns the codes' own geometry.
    wants_unit_codes: ClassVar[bool] = True

    def fit(self, X, y=None) -> "Clustering":
        """Cluster codes ``X`` (n_samples, n_features); return self.

        Raises
        ------
        ValueError
            If ``X`` is not a finite 2-d numeric array, a parameter is bad, or
            there are fewer codes than clusters.
        """
        self._fit(validate_data(self, X, dtype=np.float32))
        return self

    @abstractmethod
    def _fit(self, codes: np.ndarray) -> None:
        """Fit on validated float32 codes; set the fitted attributes."""

    @abstractmethod
    def predict(self, X) -> np.ndarray:
        """Return the cluster of each code, shape (n_samples,), int64."""

    @abstractmethod
    def transform(self, X) -> np.ndarray:
        """Return each code's distance to each cluster centre, shape (n_samples, n_clusters_), float32."""

    @abstractmethod
    def state(self) -> dict[str, np.ndarray]:
        """The fitted arrays, which rebuild it with ``restore``."""

    @abstractmethod
    def restore(self, arrays: dict[str, np.ndarray], scores: dict[int, float]) -> "Clustering":
        """Set the fitted state from ``state()``'s arrays and the k scores; return self."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # codes and distances are float32 whatever comes in
        return tags

    def prepare(self, codes: np.ndarray, metric: str | Distance) -> np.ndarray:
        """The codes as this clustering sees them under a pipeline's ``metric`` (a name or object): as the metric
        prepares them if it wants that (``wants_unit_codes``), else unchanged."""
        return get_distance(metric).prepare(codes) if self.wants_unit_codes else codes

    def _codes(self, X) -> np.ndarray:
        """Validate codes given to a fitted clustering."""
        check_is_fitted(self, "cluster_centers_")
        return validate_data(self, X, dtype=np.float32, reset=False)


@CLUSTERINGS.register("kmeans")
class KMeansClustering(Clustering):
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
    verbose : int, default=0
        0 silent; 1 a progress bar of the k tried by ``"auto"`` on standard error.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,), int
    cluster_centers_ : ndarray of shape (n_clusters_, n_features), float32
    n_clusters_ : int
        The number of clusters used (the chosen one with ``"auto"``).
    scores_ : dict of int to float
        Silhouette score of each k tried (empty for a fixed k).
    """

    def __init__(self, *, n_clusters="auto", k_range=(2, 20), sample_size=5000, n_init=10, random_state=None, verbose=0):
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.sample_size = sample_size
        self.n_init = n_init
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, codes: np.ndarray) -> None:
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
        from sklearn.cluster import KMeans  # sklearn's estimators load where used: 0.45 s a query need not spend

        kmeans = KMeans(n_clusters=k, n_init=self.n_init, random_state=seed).fit(codes)
        self.n_clusters_ = k
        self.labels_ = kmeans.labels_.astype(np.int64)
        self.cluster_centers_ = kmeans.cluster_centers_.astype(np.float32)

    def predict(self, X) -> np.ndarray:
        """Return the nearest cluster of each code, shape (n_samples,)."""
        return self.transform(X).argmin(axis=1)

    def transform(self, X) -> np.ndarray:
        """Return the distance of each code to each cluster centre, shape (n_samples, n_clusters_)."""
        from sklearn.metrics import euclidean_distances

        return euclidean_distances(self._codes(X), self.cluster_centers_).astype(np.float32)

    def state(self) -> dict[str, np.ndarray]:
        """The fitted labels and centres."""
        return {"labels": self.labels_, "cluster_centers": self.cluster_centers_}

    def restore(self, arrays: dict[str, np.ndarray], scores: dict[int, float]) -> "KMeansClustering":
        """Set the fitted state from ``state()``'s arrays; return self.

        Raises
        ------
        ValueError
            If an array is missing or has the wrong shape, or a label names no centre.
        """
        labels, centers = _checked(arrays, {"labels": 1, "cluster_centers": 2}).values()
        check_labels(labels, len(centers))
        self.labels_, self.cluster_centers_ = labels, centers
        self.n_clusters_, self.scores_, self.n_features_in_ = len(self.cluster_centers_), scores, self.cluster_centers_.shape[1]
        return self

    def _score_candidates(self, codes: np.ndarray, seed: int | None) -> dict[int, float]:
        from sklearn.cluster import KMeans
        from sklearn.metrics import silhouette_score

        low, high = self._check_k_range()
        high = min(high, len(codes) - 1)
        rng = np.random.default_rng(seed)
        sample = codes[rng.choice(len(codes), self.sample_size, replace=False)] if len(codes) > self.sample_size else codes
        scores = {}
        progress = Progress(high - low + 1, "choosing k", unit="candidate") if self.verbose else None
        for k in range(low, high + 1):
            labels = KMeans(n_clusters=k, n_init=self.n_init, random_state=seed).fit_predict(sample)
            if len(np.unique(labels)) > 1:
                scores[k] = float(silhouette_score(sample, labels))
            if progress is not None:
                progress.add()
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


@CLUSTERINGS.register("manifold")
class ManifoldClustering(Clustering):
    """Embed codes with UMAP, then group them with a Gaussian mixture.

    Parameters
    ----------
    n_clusters : int or "auto", default="auto"
        Number of clusters; ``"auto"`` picks the k of best silhouette on the embedding.
    n_components : int, default=10
        Dimensions of the UMAP embedding (fewer if there are very few codes).
    n_neighbors : int, default=15
        UMAP's neighbourhood size; also the neighbours used to embed new codes.
    n_init : int, default=5
        Gaussian-mixture restarts; the most likely fit is kept (one restart is unreliable).
    random_state : int or None, default=None
        Seeds UMAP (which then runs on one thread) and the mixture.
    verbose : int, default=0
        0 silent; 1 progress bars of the embedding and of the k tried on standard error.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,), int
    embedding_ : ndarray of shape (n_samples, n_components), float32
    cluster_centers_ : ndarray of shape (n_clusters_, n_components), float32
        The mixture's means, in the embedding.
    n_clusters_ : int
    scores_ : dict of int to float
        Silhouette of each k tried with ``"auto"``.
    """

    wants_unit_codes = False  # UMAP learns the codes' own geometry

    def __init__(self, *, n_clusters="auto", n_components=10, n_neighbors=15, n_init=5, random_state=None, verbose=0):
        self.n_clusters = n_clusters
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.n_init = n_init
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, codes: np.ndarray) -> None:
        import umap  # imported here: numba compiles on import, which plain K-Means users need not wait for

        seed = check_random_state(self.random_state)
        check_n_clusters(self.n_clusters)
        if len(codes) < 4:
            raise ValueError(f"manifold clustering needs at least 4 codes, got n_samples={len(codes)}")
        n_neighbors = min(check_int("n_neighbors", self.n_neighbors, minimum=2), len(codes) - 1)
        n_components = min(check_int("n_components", self.n_components), len(codes) - 2)
        reducer = umap.UMAP(
            n_components=n_components, n_neighbors=n_neighbors, min_dist=0.0, random_state=seed, n_jobs=1 if seed is not None else -1
        )
        logger.info("embedding %d codes with UMAP (%d dimensions, %d neighbours)", len(codes), n_components, n_neighbors)
        progress = Progress(len(codes), "embedding with UMAP", unit="code") if self.verbose else None
        if progress is not None:
            progress.update(0)  # UMAP reports nothing while it runs: the bar says what is under way
        embedding = reducer.fit_transform(codes).astype(np.float32)
        if progress is not None:
            progress.update(len(codes))
        choice = KMeansClustering(n_clusters=self.n_clusters, random_state=seed, verbose=self.verbose).fit(embedding)
        from sklearn.mixture import GaussianMixture

        mixture = GaussianMixture(choice.n_clusters_, covariance_type="full", n_init=check_int("n_init", self.n_init), random_state=seed)
        mixture.fit(embedding)
        self._set_state(codes, embedding, mixture.weights_, mixture.means_, mixture.covariances_, choice.scores_)

    def predict(self, X) -> np.ndarray:
        """Return the cluster of each code: its embedding's most likely mixture component."""
        embedding = self.embed(X)
        return self.mixture_.predict(embedding).astype(np.int64)

    def transform(self, X) -> np.ndarray:
        """Return each code's distance to each cluster centre, in the embedding."""
        from sklearn.metrics import euclidean_distances

        return euclidean_distances(self.embed(X), self.cluster_centers_).astype(np.float32)

    def embed(self, X) -> np.ndarray:
        """Place codes in the embedding: the distance-weighted mean of their nearest fitted codes' places.

        This is how UMAP starts placing new points; unlike ``UMAP.transform`` it needs
        only arrays, so a saved pipeline predicts the same after loading. Codes that
        begin with the fitted codes (a pipeline's ``codes_``, also after ``add``) keep
        those codes' own places, without a neighbour search over them.
        """
        codes = self._codes(X)
        fitted = self.fitted_codes_
        if len(codes) >= len(fitted) and np.array_equal(codes[: len(fitted)], fitted):
            return np.concatenate([self.embedding_, self._place(codes[len(fitted) :])])
        return self._place(codes)

    def _place(self, codes: np.ndarray) -> np.ndarray:
        if not len(codes):
            return np.empty((0, self.embedding_.shape[1]), np.float32)
        distances, indices = self.neighbors_.kneighbors(codes)
        weights = 1.0 / np.maximum(distances, 1e-12)
        weights /= weights.sum(axis=1, keepdims=True)
        return np.einsum("nk,nkd->nd", weights, self.embedding_[indices]).astype(np.float32)

    def state(self) -> dict[str, np.ndarray]:
        """The fitted codes (new codes are placed by their nearest fitted ones), their embedding and the mixture."""
        mixture = self.mixture_
        return {
            "fitted_codes": self.fitted_codes_,
            "embedding": self.embedding_,
            "weights": mixture.weights_,
            "means": mixture.means_,
            "covariances": mixture.covariances_,
        }

    def restore(self, arrays: dict[str, np.ndarray], scores: dict[int, float]) -> "ManifoldClustering":
        """Set the fitted state from ``state()``'s arrays; return self.

        Raises
        ------
        ValueError
            If the fitted codes and the embedding differ in length.
        """
        codes, embedding, weights, means, covariances = _checked(
            arrays, {"fitted_codes": 2, "embedding": 2, "weights": 1, "means": 2, "covariances": 3}).values()
        if len(codes) != len(embedding):
            raise ValueError(f"{len(codes)} fitted codes for an embedding of {len(embedding)}")
        k, dimensions = means.shape
        if weights.shape != (k,) or covariances.shape != (k, dimensions, dimensions) or embedding.shape[1] != dimensions:
            raise ValueError(f"the mixture's weights {weights.shape}, means {means.shape} and covariances "
                             f"{covariances.shape} do not fit an embedding of {embedding.shape}")
        try:
            self._set_state(codes, embedding, weights, means, covariances, scores)
        except np.linalg.LinAlgError as error:
            raise ValueError(f"the mixture's covariances are not positive definite ({error})") from error
        return self

    def _set_state(self, codes, embedding, weights, means, covariances, scores) -> None:
        from sklearn.mixture import GaussianMixture
        from sklearn.neighbors import NearestNeighbors

        mixture = GaussianMixture(len(means), covariance_type="full")
        mixture.weights_, mixture.means_, mixture.covariances_ = weights, means, covariances
        # what GaussianMixture.fit derives from the covariances: the Cholesky factor of each precision
        mixture.precisions_cholesky_ = np.linalg.inv(np.linalg.cholesky(covariances)).transpose(0, 2, 1)
        self.mixture_ = mixture
        self.fitted_codes_, self.embedding_, self.n_features_in_ = codes, embedding, codes.shape[1]
        n_neighbors = min(self.n_neighbors, len(codes))
        self.neighbors_ = NearestNeighbors(n_neighbors=n_neighbors).fit(codes)
        self.labels_ = mixture.predict(embedding).astype(np.int64)
        self.cluster_centers_ = np.asarray(means, np.float32)
        self.n_clusters_ = len(means)
        self.scores_ = scores


def _checked(arrays: dict[str, np.ndarray], dimensions: dict[str, int]) -> dict[str, np.ndarray]:
    """The named arrays of a saved state, each numeric, finite (unless memory-mapped: the collection's codes, which
    ``verify`` checks) and of its number of dimensions, in that order.

    Raises
    ------
    ValueError
        Naming the first array that is missing or wrong.
    """
    checked = {}
    for name, ndim in dimensions.items():
        array = arrays.get(name)
        if not isinstance(array, np.ndarray) or array.ndim != ndim or array.size == 0 or array.dtype.kind not in "biuf":
            raise ValueError(f"the clustering's {name} must be a non-empty {ndim}-d numeric array, "
                             f"got {getattr(array, 'shape', None)} {getattr(array, 'dtype', type(array).__name__)}")
        if array.dtype.kind == "f" and not isinstance(array, np.memmap) and not np.isfinite(array).all():
            raise ValueError(f"the clustering's {name} hold NaN or infinite values")
        checked[name] = array
    return checked


def check_labels(labels: np.ndarray, n_clusters: int) -> None:
    """Raise ValueError unless ``labels`` is a 1-d array of ints in [0, n_clusters) (empty is fine)."""
    if not isinstance(labels, np.ndarray) or labels.ndim != 1:
        raise ValueError(f"cluster labels must be a 1-d array, got {getattr(labels, 'shape', type(labels).__name__)}")
    if not len(labels):
        return
    if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= n_clusters:
        raise ValueError(f"cluster labels must be ints in [0, {n_clusters}), got {labels.dtype} in "
                         f"[{labels.min()}, {labels.max()}]")
