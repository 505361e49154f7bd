"""Clustering and retrieval metrics."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix


def _labels(true, predicted) -> tuple[np.ndarray, np.ndarray]:
    true, predicted = np.asarray(true), np.asarray(predicted)
    if true.ndim != 1 or true.shape != predicted.shape or not len(true):
        raise ValueError(f"expected two non-empty 1-d label arrays of one length, got shapes {true.shape} and {predicted.shape}")
    return true, predicted


def clustering_accuracy(true, predicted) -> float:
    """Accuracy of cluster labels under the best one-to-one mapping of clusters to classes (Hungarian).

    Parameters
    ----------
    true, predicted : array-like of shape (n,)
        Class labels and cluster labels (any hashable values).

    Returns
    -------
    float in [0, 1]

    Raises
    ------
    ValueError
        If the arrays are not 1-d, empty, or of different lengths.
    """
    counts = contingency_matrix(*_labels(true, predicted))  # classes × clusters
    rows, columns = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, columns].sum() / counts.sum())


def purity(true, predicted) -> float:
    """Share of items that belong to their cluster's most common class."""
    counts = contingency_matrix(*_labels(true, predicted))
    return float(counts.max(axis=0).sum() / counts.sum())


def nmi(true, predicted) -> float:
    """Normalised mutual information (arithmetic mean normalisation, as scikit-learn)."""
    return float(normalized_mutual_info_score(*_labels(true, predicted)))


def ari(true, predicted) -> float:
    """Adjusted Rand index."""
    return float(adjusted_rand_score(*_labels(true, predicted)))


def clustering_scores(true, predicted) -> dict[str, float]:
    """ACC, NMI, ARI and purity in one dict."""
    return {"acc": clustering_accuracy(true, predicted), "nmi": nmi(true, predicted), "ari": ari(true, predicted), "purity": purity(true, predicted)}


def _ranked(relevant, ranked) -> tuple[np.ndarray, np.ndarray]:
    """Return a (n_queries, k) boolean hit matrix and the number of relevant items per query."""
    ranked = np.asarray(ranked)
    if ranked.ndim != 2 or len(ranked) != len(relevant) or not len(ranked):
        raise ValueError(f"expected ranked results (n_queries, k) for {len(relevant)} queries, got shape {ranked.shape}")
    sets = [set(np.atleast_1d(r).tolist()) for r in relevant]
    hits = np.array([[item in wanted for item in row] for row, wanted in zip(ranked.tolist(), sets)], dtype=bool)
    return hits, np.array([len(s) for s in sets])


def top_n_accuracy(relevant, ranked, n: int) -> float:
    """Share of queries with a relevant item among their first ``n`` results.

    Parameters
    ----------
    relevant : sequence
        For each query, its relevant item or a collection of them (e.g. the original of a copy).
    ranked : array-like of shape (n_queries, k)
        Result indices, best first.
    n : int
        How many first results count (at most k).
    """
    hits, _ = _ranked(relevant, ranked)
    if not 1 <= n <= hits.shape[1]:
        raise ValueError(f"n must be in [1, {hits.shape[1]}], got {n}")
    return float(hits[:, :n].any(axis=1).mean())


def precision_at_k(relevant, ranked, k: int) -> float:
    """Mean share of relevant items among the first ``k`` results."""
    hits, _ = _ranked(relevant, ranked)
    if not 1 <= k <= hits.shape[1]:
        raise ValueError(f"k must be in [1, {hits.shape[1]}], got {k}")
    return float(hits[:, :k].mean())


def mean_average_precision(relevant, ranked) -> float:
    """Mean over queries of the average precision of their ranked results (relevant items not retrieved count as misses)."""
    hits, n_relevant = _ranked(relevant, ranked)
    precision = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    return float(np.mean((precision * hits).sum(axis=1) / np.maximum(n_relevant, 1)))
