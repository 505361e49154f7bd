"""Nearest-neighbour search over codes, behind one small interface, with two back ends.

- ``ExactIndex``: exact search in NumPy (a matrix product and ``argpartition``), the default for small sets.
- ``FaissIndex``: FAISS (``faiss-cpu``): exact ``"Flat"``, inverted lists (``"IVF"``), inverted lists of
  compressed codes (``"IVFPQ"``) or a graph (``"HNSW"``), for millions of codes.

``INDEXES`` is the registry of the names ``Pipeline(index=...)`` takes: ``"exact"`` and one preset of
``FaissIndex`` for each FAISS kind (``INDEXES["faiss-ivf"](metric="cosine")``).
Every index takes ``metric=`` (a name of ``cae_sim.distances.DISTANCES`` or a distance object) and has
``fit(codes)``, ``kneighbors(codes, n_neighbors)``, ``add(codes)`` and ``remove(positions)``; positions are those of the codes in the
order they were fitted and added, closing up after a removal (as in a list).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import partial

import numpy as np
from sklearn.base import BaseEstimator

from ._checks import check_choice, check_codes, check_int
from ._registry import INDEXES
from .distances import DISTANCES, Distance, get_distance

#: The metric names (``DISTANCES``' names), for argument choices.
METRICS = tuple(DISTANCES)
#: Query rows scored against all codes at once by ``ExactIndex``: bounds its memory to about 64 MiB a block.
EXACT_BLOCK_VALUES = 2**24
#: Candidates beyond k that ``ExactIndex`` measures exactly: the matrix product's rounding cannot swap near ties.
EXACT_EXTRA_CANDIDATES = 8


class NeighborIndex(BaseEstimator, ABC):
    """Finds the codes nearest to query codes.

    Distances are those of ``metric`` (``cae_sim.distances``); ``score`` turns them into similarities, higher
    for closer: the cosine similarity for cosine, 1 / (1 + distance) for euclidean, the share of equal bits for
    hamming.

    A back end implements ``_build``, ``_append``, ``_delete`` and ``_search``
    over codes as the metric prepares them (unit length for cosine, 0/1 bits for hamming).

    Parameters
    ----------
    metric : {"cosine", "euclidean", "hamming"} or Distance, default="cosine"
        The metric, by name or as a distance object.
    """

    def __init__(self, metric: str | Distance = "cosine"):
        self.metric = metric

    def fit(self, codes: np.ndarray) -> "NeighborIndex":
        """Index codes of shape (n_samples, d), replacing any indexed before; return self."""
        distance = get_distance(self.metric)
        codes = check_codes(codes)
        self.n_features_, self.n_codes_ = codes.shape[1], len(codes)
        self._build(distance.prepare(codes))
        return self

    def add(self, codes: np.ndarray) -> "NeighborIndex":
        """Index more codes; they take the next positions. Return self."""
        self._check_fitted()
        codes = check_codes(codes, self.n_features_)
        self._append(self._prepare(codes))
        self.n_codes_ += len(codes)
        return self

    def remove(self, positions) -> "NeighborIndex":
        """Take the codes at ``positions`` out; later codes move up to close the gaps. Return self.

        Raises
        ------
        ValueError
            If a position is not an int in [0, n_codes_), or all codes would go.
        """
        self._check_fitted()
        positions = check_positions(positions, self.n_codes_)
        if len(positions) == self.n_codes_:
            raise ValueError("cannot remove every code: an index holds at least one (fit it anew instead)")
        self._delete(positions)
        self.n_codes_ -= len(positions)
        return self

    def kneighbors(self, codes: np.ndarray, n_neighbors: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Return (distances, positions), each (n_queries, k), nearest first.

        ``k`` is ``n_neighbors`` or the number of indexed codes if that is smaller.

        Raises
        ------
        ValueError
            If ``n_neighbors`` < 1, the index is empty, or the codes do not match its width.
        """
        self._check_fitted()
        n_neighbors = min(check_int("n_neighbors", n_neighbors), self.n_codes_)
        queries = self._prepare(check_codes(codes, self.n_features_))
        distances, positions = self._search(queries, n_neighbors)
        return distances.astype(np.float32), positions.astype(np.int64)

    def score(self, distances: np.ndarray) -> np.ndarray:
        """Turn distances into the metric's similarities, higher for closer (``Distance.score``).

        Raises
        ------
        ValueError
            For hamming scores before ``fit``: they need the codes' width.
        """
        return get_distance(self.metric).score(distances, getattr(self, "n_features_", None))

    def distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Distance between paired rows of two (n, d) code arrays, in the index's metric."""
        distance = get_distance(self.metric)
        a = distance.prepare(check_codes(a, name="a"))
        b = distance.prepare(check_codes(b, a.shape[1], name="b"))
        return distance.paired(a, b)

    def state(self) -> dict[str, np.ndarray]:
        """The arrays a save needs beyond the codes themselves (none for an index rebuilt from them)."""
        return {}

    def restore(self, arrays: dict[str, np.ndarray], codes: np.ndarray) -> "NeighborIndex":
        """Rebuild the fitted index from ``state()``'s arrays and the indexed codes; return self."""
        return self.fit(codes)

    def __len__(self) -> int:
        return getattr(self, "n_codes_", 0)

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_codes_"):
            raise ValueError("the index is empty: call fit(codes) first")

    def _prepare(self, codes: np.ndarray) -> np.ndarray:
        return get_distance(self.metric).prepare(codes)

    def _from_squared(self, squared: np.ndarray) -> np.ndarray:
        """The metric's distance from squared euclidean distances of prepared codes."""
        return get_distance(self.metric).from_squared(squared)

    @abstractmethod
    def _build(self, codes: np.ndarray) -> None:
        """Build the search structure over prepared codes."""

    @abstractmethod
    def _append(self, codes: np.ndarray) -> None:
        """Add prepared codes at the end."""

    @abstractmethod
    def _delete(self, positions: np.ndarray) -> None:
        """Delete the codes at sorted, unique, valid positions."""

    @abstractmethod
    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (distances in the metric, positions) of the k nearest codes, nearest first."""


@INDEXES.register("exact")
class ExactIndex(NeighborIndex):
    """Exact search in NumPy: each query against every code, by a matrix product.

    The k nearest are found with ``argpartition`` and then sorted; ties go to the
    lower position. Queries are scored in blocks of about 64 MiB, however many neighbours are asked for.
    """

    def _build(self, codes: np.ndarray) -> None:
        self.codes_ = codes
        self.squared_norms_ = np.einsum("nd,nd->n", codes, codes)

    def _append(self, codes: np.ndarray) -> None:
        self._build(np.concatenate([self.codes_, codes]))

    def _delete(self, positions: np.ndarray) -> None:
        self._build(np.delete(self.codes_, positions, axis=0))

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        # both the approximate scores (rows × codes) and the exact re-measuring (rows × candidates × d) fit a block
        n_candidates = min(k + EXACT_EXTRA_CANDIDATES, len(self.codes_))
        block = max(1, EXACT_BLOCK_VALUES // max(len(self.codes_), n_candidates * self.codes_.shape[1]))
        parts = [self._search_block(queries[start : start + block], k) for start in range(0, len(queries), block)]
        return np.concatenate([d for d, _ in parts]), np.concatenate([p for _, p in parts])

    def _search_block(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        # a² + b² − 2ab ranks all codes at the cost of one matrix product, with float32 rounding: a few more than k
        # candidates are kept, measured exactly, and the k nearest of them returned (ties to the lower position)
        approximate = self.squared_norms_[None, :] - 2.0 * (queries @ self.codes_.T)
        n_candidates = min(k + EXACT_EXTRA_CANDIDATES, approximate.shape[1])
        if n_candidates < approximate.shape[1]:
            candidates = np.argpartition(approximate, n_candidates - 1, axis=1)[:, :n_candidates]
        else:
            candidates = np.tile(np.arange(n_candidates), (len(queries), 1))
        squared = np.einsum("qkd,qkd->qk", *(2 * [self.codes_[candidates] - queries[:, None, :]]))
        order = np.lexsort((candidates, squared), axis=1)[:, :k]
        return self._from_squared(np.take_along_axis(squared, order, axis=1)), np.take_along_axis(candidates, order, axis=1)


class FaissIndex(NeighborIndex):
    """Search with FAISS: exact (``"Flat"``), inverted lists (``"IVF"``), inverted lists of
    compressed codes (``"IVFPQ"``) or a graph (``"HNSW"``).

    Codes are prepared as for every index and searched by squared L2 distance,
    which ranks unit codes as cosine does (and 0/1 bits as hamming does).
    ``"IVFPQ"`` keeps each code as ``pq_m`` bytes (product quantisation) instead
    of 4 bytes a value: its distances are estimates and its recall lower.
    ``remove`` marks codes as gone and leaves them out of every search; once
    they are more than a quarter of the index, the live codes are re-indexed
    (for IVF without new training), so the index does not keep growing.

    Parameters
    ----------
    metric : {"cosine", "euclidean", "hamming"} or Distance, default="cosine"
    kind : {"Flat", "IVF", "IVFPQ", "HNSW"}, default="IVF"
    n_lists : int or None, default=None
        IVF: number of inverted lists; None: about 4·√n (at most n / 39, which FAISS needs to train).
    n_probe : int, default=64
        IVF: lists visited per query (more: slower, higher recall).
    pq_m : int or None, default=None
        IVFPQ: bytes a code is kept in (sub-vectors of 8 bits), a divisor of
        the codes' width; None: the largest divisor up to 64 that leaves each
        sub-vector 4 values or more.
    hnsw_m : int, default=32
        HNSW: links per node.
    ef_construction : int, default=80
        HNSW: candidate list while building.
    ef_search : int, default=256
        HNSW: candidate list while searching (more: slower, higher recall).
    random_state : int or None, default=0
        Seed of IVF's k-means training.
    """

    KINDS = ("Flat", "IVF", "IVFPQ", "HNSW")
    #: IVFPQ trains 256 centroids for each sub-vector: it needs at least that many codes.
    PQ_MIN_CODES = 256

    def __init__(
        self, metric: str | Distance = "cosine", *, kind: str = "IVF", n_lists=None, n_probe: int = 64, pq_m=None, hnsw_m: int = 32,
        ef_construction: int = 80, ef_search: int = 256, random_state=0,
    ):
        super().__init__(metric)
        self.kind = kind
        self.n_lists = n_lists
        self.n_probe = n_probe
        self.pq_m = pq_m
        self.hnsw_m = hnsw_m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.random_state = random_state

    def _build(self, codes: np.ndarray) -> None:
        import faiss  # imported here: only who searches with FAISS pays for loading it

        check_choice("kind", self.kind, self.KINDS)
        dimension = codes.shape[1]
        if self.kind == "Flat":
            index = faiss.IndexFlatL2(dimension)
        elif self.kind == "HNSW":
            index = faiss.IndexHNSWFlat(dimension, check_int("hnsw_m", self.hnsw_m, minimum=2))
            index.hnsw.efConstruction = check_int("ef_construction", self.ef_construction)
        else:
            index = self._trained_ivf(codes, dimension)
        index.add(codes)
        self.index_ = index
        self._set_ids(np.arange(len(codes), dtype=np.int64))

    def _trained_ivf(self, codes: np.ndarray, dimension: int):
        import faiss

        n_lists = self.n_lists or int(np.clip(4 * np.sqrt(len(codes)), 1, max(1, len(codes) // 39)))
        quantizer = faiss.IndexFlatL2(dimension)
        if self.kind == "IVFPQ":
            if len(codes) < self.PQ_MIN_CODES:
                raise ValueError(f"an IVFPQ index needs at least {self.PQ_MIN_CODES} codes to train, got {len(codes)}")
            index = faiss.IndexIVFPQ(quantizer, dimension, check_int("n_lists", n_lists), self._pq_bytes(dimension), 8)
            index.pq.cp.min_points_per_centroid = 1  # FAISS warns on stderr below 39 codes a centroid (9,984)
        else:
            index = faiss.IndexIVFFlat(quantizer, dimension, check_int("n_lists", n_lists))
        index.cp.seed = 1234 if self.random_state is None else self.random_state
        index.train(codes)
        index.make_direct_map()  # lets a compaction read codes back
        return index

    def _pq_bytes(self, dimension: int) -> int:
        if self.pq_m is None:
            return max(m for m in range(1, min(64, max(1, dimension // 4)) + 1) if dimension % m == 0)
        if check_int("pq_m", self.pq_m) > dimension or dimension % self.pq_m:
            raise ValueError(f"pq_m must divide the codes' width {dimension}, got {self.pq_m}")
        return self.pq_m

    def _append(self, codes: np.ndarray) -> None:
        first = self.index_.ntotal
        self.index_.add(codes)
        self._set_ids(np.concatenate([self.ids_, np.arange(first, first + len(codes), dtype=np.int64)]))

    def _delete(self, positions: np.ndarray) -> None:
        self._set_ids(np.delete(self.ids_, positions))
        if self.index_.ntotal - len(self.ids_) > self.index_.ntotal // 4:
            self._compact()

    def _compact(self) -> None:
        """Re-index the live codes only (IVF keeps its trained lists)."""
        import faiss

        live = self.index_.reconstruct_batch(self.ids_)
        if self.kind.startswith("IVF"):
            self.index_.reset()
            self.index_.make_direct_map()
            self.index_.add(live)
        else:
            fresh = faiss.IndexFlatL2(live.shape[1]) if self.kind == "Flat" else faiss.IndexHNSWFlat(live.shape[1], self.hnsw_m)
            if self.kind == "HNSW":
                fresh.hnsw.efConstruction = self.ef_construction
            fresh.add(live)
            self.index_ = fresh
        self._set_ids(np.arange(len(live), dtype=np.int64))

    def _set_ids(self, ids: np.ndarray) -> None:
        """Set the FAISS id of each position (ascending), and the selector that leaves removed ids out of searches.

        Built here, once per change, not per search: finding the removed ids goes through every id.
        """
        import faiss

        self.ids_, self.selector_ = ids, None
        if len(ids) < self.index_.ntotal:
            removed = np.setdiff1d(np.arange(self.index_.ntotal, dtype=np.int64), ids, assume_unique=True)
            self.selector_ = faiss.IDSelectorNot(faiss.IDSelectorBatch(removed))

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        squared, ids = self.index_.search(queries, k, params=self._search_parameters())
        positions = np.searchsorted(self.ids_, ids)
        found = ids >= 0  # FAISS pads with -1 where it found fewer than k
        positions[~found] = -1
        return np.where(found, self._from_squared(squared), np.inf), positions

    def _search_parameters(self):
        import faiss

        if self.kind.startswith("IVF"):
            return faiss.SearchParametersIVF(sel=self.selector_, nprobe=check_int("n_probe", self.n_probe))
        if self.kind == "HNSW":
            return faiss.SearchParametersHNSW(sel=self.selector_, efSearch=check_int("ef_search", self.ef_search))
        return faiss.SearchParameters(sel=self.selector_)

    def state(self) -> dict[str, np.ndarray]:
        """FAISS' own serialisation of the index (bytes as uint8), and the FAISS id of each position."""
        import faiss

        return {"faiss": faiss.serialize_index(self.index_), "ids": self.ids_}

    def restore(self, arrays: dict[str, np.ndarray], codes: np.ndarray) -> "FaissIndex":
        """Read the index back from ``state()``'s arrays (nothing is re-trained); return self.

        Raises
        ------
        ValueError
            If the arrays do not hold an index of ``codes``' size and width.
        """
        import faiss

        index, ids = faiss.deserialize_index(np.asarray(arrays["faiss"], np.uint8)), np.asarray(arrays["ids"], np.int64)
        if index.d != codes.shape[1] or len(ids) != len(codes) or (len(ids) and ids[-1] >= index.ntotal):
            raise ValueError(f"the saved FAISS index ({index.ntotal} codes of width {index.d}) does not hold the {len(codes)} saved codes")
        self.index_ = index
        self._set_ids(ids)
        self.n_features_, self.n_codes_ = codes.shape[1], len(codes)
        return self


def check_positions(positions, n: int) -> np.ndarray:
    """Return positions as a sorted array of unique ints in [0, n); raise ValueError naming a bad one."""
    array = np.asarray(positions)
    if array.ndim != 1 or not len(array) or not (np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"positions must be a non-empty list of ints, got {positions!r:.80}")
    bad = array[(array < 0) | (array >= n)]
    if len(bad):
        raise ValueError(f"position {int(bad[0])} is out of range: there are {n} codes")
    return np.unique(array).astype(np.int64)


INDEXES.register("faiss-flat", partial(FaissIndex, kind="Flat"))
INDEXES.register("faiss-ivf", partial(FaissIndex, kind="IVF"))
INDEXES.register("faiss-ivfpq", partial(FaissIndex, kind="IVFPQ"))
INDEXES.register("faiss-hnsw", partial(FaissIndex, kind="HNSW"))
