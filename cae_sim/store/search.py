"""Searching a store's codes: exactly, streamed through the segments, or compressed (IVF-PQ) and re-ranked.

The compressed search is the classic two stage one. FAISS' IVF-PQ keeps each code as a list number and
``pq_m`` bytes in memory and proposes ``candidates`` per query; their exact codes are then read back from the
segment files and ranked by the true distance. Memory holds the compressed codes only (about 5 % of float16
codes of 1,280 values), and the recall is that of the candidates, not of the compressed distances.

The trained quantizers are kept as plain arrays (``search/centroids.npy``, ``search/pq_centroids.npy``); each
segment's compressed codes are its ``pq`` file, written when the segment is. FAISS never parses a stored file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._files import sync_folder, write_atomically

FOLDER = "search"
#: Inverted lists of the compressed search: about 4,000 codes a list at 1 million codes (training and encoding cost
#: grow with it: 1,024 lists took 16 minutes to train on a busy 2-core machine).
N_LISTS = 256
#: Lists a query visits. At 1 and 2 million codes, 8, 16 and 32 gave the same recall (within 0.001): the candidates
#: decide it (``bench_store.py``'s first run).
N_PROBE = 8
#: Candidates per query re-ranked with the exact codes, for k up to 10 (times k // 10 beyond): 100 gave recall@10
#: 0.944 and 0.903 at 1 and 2 million codes, 200 gave 0.986 and 0.972 (``bench_store.py``'s first run; its second
#: checks them on other queries).
CANDIDATES = 200
#: Codes sampled to train the lists and the codebooks (FAISS asks for 39 a list).
TRAIN_SAMPLE = 40 * N_LISTS
#: k-means iterations of each PQ codebook (FAISS' default, 25, took 2.5 minutes of the busy 2-core machine for 16,384
#: codes; the re-ranking makes up for rougher codebooks).
PQ_ITERATIONS = 10
#: Codes compressed at once: FAISS builds a table of 1 KB a byte of code (268 MB for 4,096 codes of 64 bytes), and
#: compresses 4,096 codes three times as fast in one call as in four calls of 1,024 (many small matrix products).
ENCODE_ROWS = 4096


def pq_bytes(width: int) -> int:
    """Bytes a compressed code takes: the divisor of ``width`` nearest ``width / 20`` (sub-vectors of about 20
    values), at least 1; 64 for codes of 1,280 values."""
    return min((m for m in range(1, width + 1) if width % m == 0), key=lambda m: (abs(m - width / 20), m))


class CompressedSearch:
    """IVF-PQ candidates over a store's prepared codes (see the module).

    Parameters
    ----------
    folder : path
        The store's folder; the trained arrays live in ``folder/search``.
    width : int
        The codes' width.

    Attributes
    ----------
    n_probe : int
        Lists a query visits (``N_PROBE``).
    candidates : int
        Candidates a query re-ranks for k up to 10, times k // 10 beyond (``CANDIDATES``).
    """

    def __init__(self, folder, width: int):
        self.folder = Path(folder) / FOLDER
        self.width = width
        self.n_probe, self.candidates = N_PROBE, CANDIDATES
        self.index_ = None

    def is_trained(self) -> bool:
        """Whether the quantizers were trained (their files exist)."""
        return (self.folder / "pq_centroids.npy").is_file()

    def train(self, sample: np.ndarray, seed: int = 0) -> None:
        """Train the lists and codebooks on prepared codes and write them (codebooks last: they mark it trained)."""
        import faiss

        index = self._new_index(min(N_LISTS, max(1, len(sample) // 39)))
        index.cp.seed = index.pq.cp.seed = seed
        index.train(np.ascontiguousarray(sample, np.float32))
        pq = index.pq
        arrays = {"centroids": index.quantizer.reconstruct_n(0, index.nlist),
                  "pq_centroids": faiss.vector_to_array(pq.centroids).reshape(pq.M, pq.ksub, pq.dsub)}
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, array in arrays.items():
            write_atomically(self.folder / f"{name}.npy", lambda file, array=array: np.save(file, array, allow_pickle=False))
        sync_folder(self.folder)
        self.index_ = index

    def encode(self, prepared: np.ndarray) -> np.ndarray:
        """The compressed codes (list number and PQ bytes, uint8) of prepared codes, ``ENCODE_ROWS`` at a time."""
        index = self._trained()
        parts = [index.sa_encode(np.ascontiguousarray(prepared[start:start + ENCODE_ROWS], np.float32))
                 for start in range(0, len(prepared), ENCODE_ROWS)]
        return np.concatenate(parts) if parts else np.empty((0, index.sa_code_size()), np.uint8)

    def load(self, compressed: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Fill the lists with (ids, compressed codes) pairs, one per segment, replacing what they held."""
        index = self._trained()
        index.reset()
        for ids, codes in compressed:
            index.add_sa_codes(np.ascontiguousarray(codes), np.ascontiguousarray(ids, np.int64))

    def candidates_of(self, queries: np.ndarray, n: int, removed: np.ndarray) -> np.ndarray:
        """The ids of up to ``n`` candidates per prepared query (-1 where fewer), leaving ``removed`` ids out."""
        import faiss

        selector = faiss.IDSelectorNot(faiss.IDSelectorBatch(removed)) if len(removed) else None
        parameters = faiss.SearchParametersIVF(sel=selector, nprobe=min(self.n_probe, self.index_.nlist))
        _, ids = self.index_.search(np.ascontiguousarray(queries, np.float32), n, params=parameters)
        return ids

    def code_size(self) -> int:
        """Bytes of one compressed code (list number and PQ bytes)."""
        return self._trained().sa_code_size()

    def memory_bytes(self) -> int:
        """Bytes the filled lists hold (compressed codes and ids)."""
        return 0 if self.index_ is None else int(self.index_.ntotal) * (self.index_.code_size + 8)

    def _trained(self):
        if self.index_ is None:
            self.index_ = self._restored()
        return self.index_

    def _new_index(self, n_lists: int):
        import faiss

        index = faiss.IndexIVFPQ(faiss.IndexFlatL2(self.width), self.width, n_lists, pq_bytes(self.width), 8)
        index.pq.cp.min_points_per_centroid = 1  # FAISS warns on stderr below 39 codes a centroid
        index.cp.min_points_per_centroid = 1
        index.pq.cp.niter = PQ_ITERATIONS
        return index

    def _restored(self):
        import faiss

        centroids = _array(self.folder / "centroids.npy", (None, self.width))
        m = pq_bytes(self.width)
        pq_centroids = _array(self.folder / "pq_centroids.npy", (m, 256, self.width // m))
        index = self._new_index(len(centroids))
        index.quantizer.add(centroids)
        faiss.copy_array_to_vector(pq_centroids.ravel(), index.pq.centroids)
        index.is_trained = True
        index.precompute_table()
        return index


def _array(path: Path, shape: tuple) -> np.ndarray:
    """A stored float array of ``shape`` (None: any length >= 1), checked; ValueError naming the file otherwise."""
    array = np.load(path, allow_pickle=False)
    fits = array.ndim == len(shape) and all(want is None and size or size == want for size, want in zip(array.shape, shape))
    if not fits or not np.issubdtype(array.dtype, np.floating) or not np.isfinite(array).all():
        raise ValueError(f"{path} must hold finite floats of shape {shape}, got {array.dtype} of {array.shape}")
    return np.ascontiguousarray(array, np.float32)


def rerank(queries: np.ndarray, candidates: list[np.ndarray], codes: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest of each query's candidates by exact squared distance: (squared, ids), each (n, k).

    ``candidates[i]`` are query ``i``'s ids (at least ``k``) and ``codes[i]`` their prepared codes.
    """
    squared = np.empty((len(queries), k), np.float32)
    ids = np.empty((len(queries), k), np.int64)
    for i, (query, found, rows) in enumerate(zip(queries, candidates, codes)):
        distances = ((rows - query) ** 2).sum(axis=1)
        best = np.lexsort((found, distances))[:k]  # ties by id: the same answer whatever the candidates' order
        squared[i], ids[i] = distances[best], found[best]
    return squared, ids


def exact_nearest(queries: np.ndarray, blocks, removed: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest codes to each prepared query, by exact squared distance: (squared, ids), each (n, k).

    ``blocks`` yields (ids, prepared codes) of every code, a block at a time; ``removed`` ids are left out.
    """
    best = (np.empty((len(queries), 0), np.float32), np.empty((len(queries), 0), np.int64))
    query_norms = (queries**2).sum(axis=1)[:, np.newaxis]
    for ids, codes in blocks:
        squared = np.maximum(query_norms + (codes**2).sum(axis=1) - 2 * queries @ codes.T, 0)
        squared[:, np.isin(ids, removed)] = np.inf
        m = min(k, len(ids))
        nearest = np.argpartition(squared, m - 1, axis=1)[:, :m]
        best = merge_nearest(best, (np.take_along_axis(squared, nearest, 1), ids[nearest]), k)
    return best


def merge_nearest(best: tuple[np.ndarray, np.ndarray], block: tuple[np.ndarray, np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest of two (squared distances, ids) sets of the same queries, nearest first (ties by id)."""
    squared, ids = np.hstack([best[0], block[0]]), np.hstack([best[1], block[1]])
    order = np.array([np.lexsort((row_ids, row))[:k] for row, row_ids in zip(squared, ids)], np.int64).reshape(len(ids), -1)
    return np.take_along_axis(squared, order, 1), np.take_along_axis(ids, order, 1)
