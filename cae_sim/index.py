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

        ``k`` is ``n_neighbors`` or the number of indexed codes if that is smaller: every row holds ``k``
        indexed codes (an approximate index searches a row again where it found fewer), never a padding.

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

    Every row of ``kneighbors`` holds ``k`` indexed codes: where the approximate
    search finds fewer (IVF visits ``n_probe`` lists, which may hold fewer than
    ``k`` codes), that row is searched again over every code (every list; the
    codes under the HNSW graph), so FAISS' padding (id -1) never reaches a caller.

    A save holds plain arrays (``state``), never FAISS' own serialisation, and
    ``restore`` rebuilds the index from them: FAISS never parses a saved file.

    Parameters
    ----------
    metric : {"cosine", "euclidean", "hamming"} or Distance, default="cosine"
    kind : {"Flat", "IVF", "IVFPQ", "HNSW"}, default="IVF"
    n_lists : int or None, default=None
        IVF: number of inverted lists, at most the number of codes fitted;
        None: about 4·√n (at most n / 39, which FAISS needs to train).
    n_probe : int, default=64
        IVF: lists visited per query (more: slower, higher recall).
    pq_m : int or None, default=None
        IVFPQ: bytes a code is kept in (sub-vectors of 8 bits), a divisor of
        the codes' width; None: the largest divisor up to 64 that leaves each
        sub-vector 4 values or more.
    hnsw_m : int, default=32
        HNSW: links per node, from 2 to ``MAX_HNSW_M``.
    ef_construction : int, default=80
        HNSW: candidate list while building, at most ``MAX_EF``.
    ef_search : int, default=256
        HNSW: candidate list while searching (more: slower, higher recall), at most ``MAX_EF``.
    random_state : int or None, default=0
        Seed of IVF's k-means training, in [0, 2**31).
    """

    KINDS = ("Flat", "IVF", "IVFPQ", "HNSW")
    #: IVFPQ trains 256 centroids for each sub-vector: it needs at least that many codes.
    PQ_MIN_CODES = 256
    #: HNSW: the most links per node (a node keeps about 2·hnsw_m): bounds what a save's parameters can allocate.
    MAX_HNSW_M = 256
    #: HNSW: the longest candidate lists (``ef_construction``, ``ef_search``).
    MAX_EF = 2**16
    #: The arrays of ``state()`` for each kind.
    STATE = {"Flat": (), "IVF": ("centroids", "lists"), "IVFPQ": ("centroids", "lists", "pq_centroids"),
             "HNSW": ("levels", "neighbors", "entry_point")}

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

    def _check_params(self) -> None:
        """Check the parameters, before anything is built: those of a save bound what it can make FAISS allocate."""
        check_choice("kind", self.kind, self.KINDS)
        if self.n_lists is not None:
            check_int("n_lists", self.n_lists)
        check_int("n_probe", self.n_probe)
        if self.pq_m is not None:
            check_int("pq_m", self.pq_m)
        _check_at_most("hnsw_m", check_int("hnsw_m", self.hnsw_m, minimum=2), self.MAX_HNSW_M)
        _check_at_most("ef_construction", check_int("ef_construction", self.ef_construction), self.MAX_EF)
        _check_at_most("ef_search", check_int("ef_search", self.ef_search), self.MAX_EF)
        if self.random_state is not None:
            _check_at_most("random_state", check_int("random_state", self.random_state, minimum=0), 2**31 - 1)

    def _build(self, codes: np.ndarray) -> None:
        import faiss  # imported here: only who searches with FAISS pays for loading it

        self._check_params()
        if self.kind == "Flat":
            index = faiss.IndexFlatL2(codes.shape[1])
        elif self.kind == "HNSW":
            index = self._new_hnsw(codes.shape[1])
        else:
            index = self._trained_ivf(codes)
        index.add(codes)
        self.index_ = index
        self._set_ids(np.arange(len(codes), dtype=np.int64))

    def _new_hnsw(self, dimension: int):
        import faiss

        index = faiss.IndexHNSWFlat(dimension, self.hnsw_m)
        index.hnsw.efConstruction = self.ef_construction
        return index

    def _new_ivf(self, dimension: int, n_lists: int, pq_m: int | None):
        """An untrained IVF index (IVFPQ with ``pq_m`` bytes a code); it keeps where each code is (direct map)."""
        import faiss

        quantizer = faiss.IndexFlatL2(dimension)
        if self.kind == "IVFPQ":
            index = faiss.IndexIVFPQ(quantizer, dimension, n_lists, pq_m, 8)
            index.pq.cp.min_points_per_centroid = 1  # FAISS warns on stderr below 39 codes a centroid (9,984)
        else:
            index = faiss.IndexIVFFlat(quantizer, dimension, n_lists)
        index.make_direct_map()  # lets a compaction read codes back, and ``state`` find each code's list
        return index

    def _trained_ivf(self, codes: np.ndarray):
        n_lists = self.n_lists or int(np.clip(4 * np.sqrt(len(codes)), 1, max(1, len(codes) // 39)))
        if n_lists > len(codes):
            raise ValueError(f"n_lists must be at most the number of codes ({len(codes)}) to train, got {n_lists}")
        if self.kind == "IVFPQ" and len(codes) < self.PQ_MIN_CODES:
            raise ValueError(f"an IVFPQ index needs at least {self.PQ_MIN_CODES} codes to train, got {len(codes)}")
        index = self._new_ivf(codes.shape[1], n_lists, self._pq_bytes(codes.shape[1]) if self.kind == "IVFPQ" else None)
        index.cp.seed = 1234 if self.random_state is None else self.random_state
        index.train(codes)
        return index

    def _pq_bytes(self, dimension: int) -> int:
        if self.pq_m is None:
            return max(m for m in range(1, min(64, max(1, dimension // 4)) + 1) if dimension % m == 0)
        if self.pq_m > dimension or dimension % self.pq_m:
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
            fresh = faiss.IndexFlatL2(live.shape[1]) if self.kind == "Flat" else self._new_hnsw(live.shape[1])
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
        import faiss

        if self.kind.startswith("IVF"):
            n_probe = min(check_int("n_probe", self.n_probe), self.index_.nlist)
            parameters = faiss.SearchParametersIVF(sel=self.selector_, nprobe=n_probe)
        elif self.kind == "HNSW":
            ef_search = check_int("ef_search", self.ef_search)
            _check_at_most("ef_search", ef_search, self.MAX_EF)
            parameters = faiss.SearchParametersHNSW(sel=self.selector_, efSearch=ef_search)
        else:
            parameters = faiss.SearchParameters(sel=self.selector_)
        squared, ids = self.index_.search(queries, k, params=parameters)
        short = (ids < 0).any(axis=1)  # FAISS pads with -1 where it found fewer than k
        if short.any():
            squared[short], ids[short] = self._search_every_code(queries[short], k)
        return self._from_squared(squared), np.searchsorted(self.ids_, ids)

    def _search_every_code(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """FAISS' search over every live code (k of them at least): every list of IVF, the codes under HNSW's graph."""
        import faiss

        if self.kind.startswith("IVF"):
            return self.index_.search(queries, k, params=faiss.SearchParametersIVF(sel=self.selector_, nprobe=self.index_.nlist))
        searched = self.index_.storage if self.kind == "HNSW" else self.index_
        return searched.search(queries, k, params=faiss.SearchParameters(sel=self.selector_))

    def state(self) -> dict[str, np.ndarray]:
        """The arrays, beyond the codes, from which ``restore`` rebuilds the index (``STATE`` names them).

        Flat: none. IVF: the trained ``centroids`` (n_lists, d) and the list of each code, ``lists`` (n,).
        IVFPQ: also the codebooks, ``pq_centroids`` (pq_m, 256, d / pq_m). HNSW: the graph: the number of
        levels of each code, ``levels`` (n,), its links, level by level (-1 where unused), ``neighbors``, and the
        ``entry_point`` code. Removed codes are not saved: an HNSW index is first rebuilt without them.
        """
        import faiss

        if self.kind == "Flat":
            return {}
        if self.kind == "HNSW":
            if len(self.ids_) < self.index_.ntotal:
                self._compact()
            graph = self.index_.hnsw
            return {"levels": faiss.vector_to_array(graph.levels), "neighbors": faiss.vector_to_array(graph.neighbors),
                    "entry_point": np.array(graph.entry_point, np.int64)}
        located = faiss.vector_to_array(self.index_.direct_map.array)  # list << 32 | offset in it, by FAISS id
        arrays = {"centroids": self.index_.quantizer.reconstruct_n(0, self.index_.nlist), "lists": located[self.ids_] >> 32}
        if self.kind == "IVFPQ":
            pq = self.index_.pq
            arrays["pq_centroids"] = faiss.vector_to_array(pq.centroids).reshape(pq.M, pq.ksub, pq.dsub)
        return arrays

    def restore(self, arrays: dict[str, np.ndarray], codes: np.ndarray) -> "FaissIndex":
        """Rebuild the fitted index of ``codes`` from ``state()``'s arrays (nothing is re-trained); return self.

        Every array is checked against the codes and the parameters before anything is built.
        A save written before format 2's plain arrays holds FAISS' own serialisation (``faiss``, bytes, and
        ``ids``, the FAISS id of each position): its bytes are never parsed; the index is fitted anew on the
        codes instead: the same index for Flat, the same kind of graph for HNSW, and IVF lists (and IVFPQ
        codebooks) trained again, with the same seed, on the saved codes: which codes a query's ``n_probe`` lists
        hold may change (and IVFPQ's estimated distances), not the exact distances IVF finds.

        Raises
        ------
        ValueError
            Naming the array that is missing, of the wrong shape or dtype, or whose values do not fit the codes.
        """
        codes = check_codes(codes)
        if "faiss" in arrays:
            _check_saved_ids(arrays.get("ids"), len(codes))
            return self.fit(codes)
        self._check_params()
        if sorted(arrays) != sorted(self.STATE[self.kind]):
            raise ValueError(f"a saved {self.kind} index has the arrays {list(self.STATE[self.kind])}, got {sorted(arrays)}")
        if self.kind == "Flat":
            return self.fit(codes)
        prepared = np.ascontiguousarray(self._prepare(codes), dtype=np.float32)  # FAISS reads it through a pointer
        self.index_ = self._restored_hnsw(arrays, prepared) if self.kind == "HNSW" else self._restored_ivf(arrays, prepared)
        self._set_ids(np.arange(len(codes), dtype=np.int64))
        self.n_features_, self.n_codes_ = codes.shape[1], len(codes)
        return self

    def _restored_ivf(self, arrays: dict[str, np.ndarray], codes: np.ndarray):
        import faiss

        n, dimension = codes.shape
        centroids = _saved_array(arrays, "centroids", np.floating, (None, dimension))
        if self.n_lists is not None and len(centroids) != self.n_lists:
            raise ValueError(f"the saved index has {len(centroids)} centroids, its n_lists is {self.n_lists}")
        lists = _saved_array(arrays, "lists", np.integer, (n,))
        if lists.min() < 0 or lists.max() >= len(centroids):
            raise ValueError(f"the saved lists of the codes must lie in [0, {len(centroids)}), got {lists.min()}..{lists.max()}")
        pq_m = None
        if self.kind == "IVFPQ":
            pq_centroids = _saved_array(arrays, "pq_centroids", np.floating, (self.pq_m, 256, None))
            pq_m = len(pq_centroids)
            if dimension % pq_m or pq_centroids.shape[2] != dimension // pq_m:
                raise ValueError(f"the saved PQ codebooks must split the codes' width {dimension}, got shape {pq_centroids.shape}")
        index = self._new_ivf(dimension, len(centroids), pq_m)
        index.quantizer.add(centroids)
        if self.kind == "IVFPQ":
            faiss.copy_array_to_vector(pq_centroids.ravel(), index.pq.centroids)
        index.is_trained = True
        if self.kind == "IVFPQ":
            index.precompute_table()  # FAISS' tables of centroid × codebook terms, as training leaves them
        index.add_core(n, faiss.swig_ptr(codes), None, faiss.swig_ptr(lists))
        return index

    def _restored_hnsw(self, arrays: dict[str, np.ndarray], codes: np.ndarray):
        import faiss

        n = len(codes)
        index = self._new_hnsw(codes.shape[1])
        graph = index.hnsw
        per_level = faiss.vector_to_array(graph.cum_nneighbor_per_level).astype(np.int64)  # a node's links up to each level
        levels = _saved_array(arrays, "levels", np.integer, (n,)).astype(np.int64)
        if levels.min() < 1 or levels.max() >= len(per_level):
            raise ValueError(f"the saved HNSW levels must lie in [1, {len(per_level) - 1}], got {levels.min()}..{levels.max()}")
        offsets = np.concatenate([[0], np.cumsum(per_level[levels])])
        neighbors = _saved_array(arrays, "neighbors", np.integer, (int(offsets[-1]),))
        if neighbors.min() < -1 or neighbors.max() >= n:
            raise ValueError(f"the saved HNSW links must lie in [-1, {n}), got {neighbors.min()}..{neighbors.max()}")
        for level in range(1, int(levels.max())):  # a link on a level must reach a node on that level
            linked = neighbors[offsets[:-1][levels > level][:, None] + np.arange(per_level[level], per_level[level + 1])]
            if (levels[linked[linked >= 0]] <= level).any():
                raise ValueError(f"the saved HNSW graph links level {level} to codes not on it")
        entry_point = _saved_array(arrays, "entry_point", np.integer, ())
        if not 0 <= entry_point < n or levels[entry_point] != levels.max():
            raise ValueError(f"the saved HNSW entry point {int(entry_point)} is not a code on the top level")
        index.storage.add(codes)
        index.ntotal = n
        faiss.copy_array_to_vector(levels.astype(np.int32), graph.levels)
        faiss.copy_array_to_vector(offsets.astype(np.uint64), graph.offsets)
        faiss.copy_array_to_vector(neighbors.astype(np.int32), graph.neighbors)
        graph.entry_point, graph.max_level = int(entry_point), int(levels.max()) - 1
        return index


def _check_at_most(name: str, value: int, maximum: int) -> None:
    if value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value}")


def _saved_array(arrays: dict[str, np.ndarray], name: str, kind: type, shape: tuple) -> np.ndarray:
    """``arrays[name]`` as a C-contiguous array, if it has ``shape`` (None: any length >= 1) and a dtype of ``kind``
    (``np.floating``: finite values, as float32; ``np.integer``: as int64); raise ValueError naming it otherwise."""
    array = np.asarray(arrays[name])
    fits = array.ndim == len(shape) and all(size == want or (want is None and size) for size, want in zip(array.shape, shape))
    if not fits or not np.issubdtype(array.dtype, kind):
        raise ValueError(f"the saved index array {name!r} must be {kind.__name__} of shape {shape}, got {array.dtype} of {array.shape}")
    if kind is np.integer:
        return np.asarray(array, dtype=np.int64, order="C")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise ValueError(f"the saved index array {name!r} holds NaN or inf")
    return array


def _check_saved_ids(ids, n: int) -> None:
    """Check the FAISS ids of a save from before format 2's plain arrays: one for each of the ``n`` codes, ascending."""
    ids = np.asarray(ids)
    if ids.shape != (n,) or not np.issubdtype(ids.dtype, np.integer) or (n and ids[0] < 0) or (np.diff(ids) <= 0).any():
        raise ValueError(f"the saved index array 'ids' must hold {n} ascending ids >= 0, one for each code, got {ids.dtype} of {ids.shape}")


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
