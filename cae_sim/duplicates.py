"""Near-duplicate groups: images whose similarity chains above a threshold.

Two images are linked when their score (``NeighborIndex.score``: cosine
similarity by default) is at least the threshold; a group is a connected set
of linked images, so A and C share a group when A is like B and B like C.
The links are found with the index's ``kneighbors``, a batch of rows at a
time: never an N × N matrix.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ._checks import check_codes, check_int
from .distances import Distance, get_distance
from .index import NeighborIndex

#: The threshold of saves made before near-duplicate thresholds were calibrated at fit time (``cae_sim.calibration``);
#: those saves were mostly of the former default for photos, EfficientNet-Lite2's class scores, which it suited.
DEFAULT_THRESHOLD = 0.95
#: Neighbours (query rows × k) searched at once: bounds the memory of one search to a few MiB.
BATCH_VALUES = 2**18


def check_threshold(threshold, metric: str | Distance) -> float:
    """Return ``threshold`` as a float if it is a number within the thresholds of ``metric`` (a name or object).

    Raises
    ------
    ValueError
        Naming the threshold and the metric's range (``Distance.check_threshold``), or naming an unknown metric.
    """
    return get_distance(metric).check_threshold(threshold)


def duplicate_groups(index: NeighborIndex, codes: np.ndarray, threshold: float, n_neighbors: int = 16) -> list[np.ndarray]:
    """Group the indexed codes whose scores chain at or above ``threshold``.

    The groups are the connected components, of two codes or more, of the
    graph that links positions i ≠ j when ``index.score`` of their distance is
    at least ``threshold``. Each code's ``n_neighbors`` nearest are searched
    first; a code whose farthest one still passes is searched again with
    twice as many (up to all codes), so a large group of identical codes
    comes out whole.

    Parameters
    ----------
    index : NeighborIndex
        A fitted index of ``codes``.
    codes : ndarray of shape (n_codes, d)
        The indexed codes, in the index's order: row i is position i.
    threshold : float
        Lowest score that links two codes, within the index metric's scores
        (see ``check_threshold``).
    n_neighbors : int, default=16
        Neighbours searched first for each code.

    Returns
    -------
    list of ndarray of int
        Positions of each group, ascending; the largest group first, groups
        of one size by their first position.

    Raises
    ------
    ValueError
        If ``threshold`` or ``n_neighbors`` is out of range, or ``codes`` are
        not as many as the indexed ones.
    """
    threshold = check_threshold(threshold, index.metric)
    n_neighbors = check_int("n_neighbors", n_neighbors)
    codes = check_codes(codes)
    if len(codes) != len(index):
        raise ValueError(f"codes must be the {len(index)} indexed ones, got {len(codes)}")
    return linked_groups(index, codes, threshold, min(n_neighbors, len(codes)))


def linked_groups(index, codes, threshold: float, n_neighbors: int) -> list[np.ndarray]:
    """``duplicate_groups`` once its arguments are checked.

    ``index`` needs only ``kneighbors`` and ``score``, and ``codes`` only ``len`` and indexing by an array of
    positions: a ``CodeStore`` reads them from disk, a block at a time.
    """
    sources, targets = _links(index, codes, threshold, n_neighbors)
    graph = coo_matrix((np.ones(len(sources), bool), (sources, targets)), shape=(len(codes), len(codes)))
    _, labels = connected_components(graph, directed=False)
    return _groups(labels)


def _links(index: NeighborIndex, codes: np.ndarray, threshold: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(source, target) positions of every link; rows whose k-th neighbour passes are searched again with 2k."""
    sources, targets = [], []
    pending = np.arange(len(codes))
    while True:
        still_passing, step = [], max(1, BATCH_VALUES // k)
        for rows in (pending[start : start + step] for start in range(0, len(pending), step)):
            distances, positions = index.kneighbors(codes[rows], k)
            passing = index.score(distances) >= threshold
            linked = passing & (positions != rows[:, None])
            sources.append(np.broadcast_to(rows[:, None], positions.shape)[linked])
            targets.append(positions[linked])
            still_passing.append(rows[passing[:, -1]])
        pending = np.concatenate(still_passing)
        if not len(pending) or k == len(codes):
            return np.concatenate(sources), np.concatenate(targets)
        k = min(2 * k, len(codes))


def _groups(labels: np.ndarray) -> list[np.ndarray]:
    """The positions of each label held by two or more, ascending; largest group first, then by first position."""
    order = np.argsort(labels, kind="stable")
    groups = [group for group in np.split(order, np.flatnonzero(np.diff(labels[order])) + 1) if len(group) >= 2]
    return sorted(groups, key=lambda group: (-len(group), group[0]))
