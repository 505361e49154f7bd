"""CodeStore: a collection of codes on disk that grows by appending, for millions of images on one machine.

::

    STORE/catalogue.sqlite            settings, segments, and one row per image: id, path, label, size, sha256,
                                      time added, removed (SQLite: a path is looked up without a scan)
    STORE/segments/N.codes.npy        codes, float32 (or float16), up to ``segment_rows`` rows a segment
    STORE/segments/N.ids.npy          the id of each row, ascending
    STORE/segments/N.pq.npy           each row compressed (IVF list and PQ bytes), once the search is trained
    STORE/search/*.npy                the compressed search's trained lists and codebooks
    STORE/clusters/centers.npy        the cluster centres, once ``cluster`` ran

``add`` writes new segments and never reads the old ones; a batch is in the store once ``add`` returns (its
segment files are written and flushed first, then its rows committed; files a crash left unlisted are deleted by
the next writer). ``remove`` marks images removed; ``compact`` rewrites the segments without them. A process
holds in memory the compressed codes (72 bytes a code: about 1.4 % of float32 codes of 1,280 values) and the rows
it reads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .._checks import check_choice, check_int, check_random_state
from .._files import file_sha256, write_atomically
from ..distances import DISTANCES, get_distance
from ..duplicates import check_threshold, linked_groups
from ..progress import Progress
from .catalogue import FILE, Catalogue, Segment
from .checks import DTYPES, INDEXES, check_settings, checked_codes, checked_metadata, checked_paths
from .search import TRAIN_SAMPLE, CompressedSearch, exact_nearest, rerank
from .segments import SegmentFiles

FORMAT = "cae_sim.store"
VERSION = 1
#: ``index="auto"`` trains the compressed search once the store holds this many codes, and searches exactly before.
COMPRESSED_MIN_CODES = 50_000
#: Values (rows × width) read per block when the codes are streamed: about 64 MiB as float32.
BLOCK_VALUES = 2**24
#: Codes sampled to fit the clusters by default.
CLUSTER_SAMPLE = 100_000


class Stored(NamedTuple):
    """What ``CodeStore.add`` did: the ``ids`` of the new images, and the paths left out as ``known`` (already
    in the store, or repeated in the batch)."""

    ids: np.ndarray
    known: list[str]


class StoredImages(NamedTuple):
    """What ``CodeStore.add_images`` did: the new ``ids`` and their ``paths``, the files ``skipped`` as unreadable
    (with the reason), and those left out as ``known``."""

    ids: np.ndarray
    paths: list[str]
    skipped: list[tuple[str, str]]
    known: list[str]


class StoredMatch(NamedTuple):
    """One result of ``CodeStore.query``: the image's ``id``, its ``path`` and its ``score`` (as ``Match``'s)."""

    id: int
    path: str
    score: float


class CodeStore:
    """Codes of images, and their paths, labels and metadata, kept on disk; made by ``create``, read by ``open``.

    Use it as a context manager, or ``close`` it.

    Attributes
    ----------
    folder : Path
        The store's folder.
    width, dtype, metric, segment_rows, index
        The settings given to ``create``.
    """

    def __init__(self, folder: Path, catalogue: Catalogue):
        self.folder, self.catalogue = folder, catalogue
        settings = catalogue.settings()
        check_settings(folder, settings, FORMAT, VERSION)
        self.width, self.dtype = int(settings["width"]), np.dtype(settings["dtype"])
        self.metric, self.segment_rows, self.index = settings["metric"], int(settings["segment_rows"]), settings["index"]
        self.files = SegmentFiles(folder)
        self.compressed = CompressedSearch(folder, self.width)
        self._seen = None  # the catalogue version the state below was read at

    # ------------------------------------------------------------------ making and opening

    @classmethod
    def create(cls, folder: str | os.PathLike, width: int, *, dtype: str = "float32", metric: str = "cosine",
               segment_rows: int = 1_000_000, index: str = "auto") -> "CodeStore":
        """Make a new, empty store in ``folder``.

        Parameters
        ----------
        folder : path
            A folder that does not exist yet, or is empty.
        width : int
            Values per code.
        dtype : {"float32", "float16"}, default="float32"
            How codes are kept on disk; they are searched and returned as float32. float16 halves the disk and the
            page cache and leaves search as it is, but moved clustering scores beyond the suite's ±0.005 on 2 of
            its 10 collections (``experiments/float16_codes.py``), so it is not the default.
        metric : {"cosine", "euclidean", "hamming"}, default="cosine"
        segment_rows : int, default=1_000_000
            Most rows of one segment file.
        index : {"auto", "exact", "compressed"}, default="auto"
            ``"exact"`` reads every code per query; ``"compressed"`` searches IVF-PQ candidates re-ranked with the
            exact codes once trained (``train_search``); ``"auto"``: exact below ``COMPRESSED_MIN_CODES`` codes,
            compressed from there on (trained by the ``add`` that reaches it).

        Raises
        ------
        ValueError
            If a parameter is not valid, or ``folder`` holds files.
        """
        check_int("width", width)
        check_choice("dtype", dtype, DTYPES)
        check_choice("metric", metric, tuple(DISTANCES))
        check_int("segment_rows", segment_rows)
        check_choice("index", index, INDEXES)
        folder = Path(folder).absolute()
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise ValueError(f"refusing to make a store in {str(folder)!r}: it exists and is not an empty folder")
        folder.mkdir(parents=True, exist_ok=True)
        catalogue = Catalogue(folder)
        with catalogue.writing():
            catalogue.set(format=FORMAT, version=VERSION, width=width, dtype=dtype, metric=metric,
                          segment_rows=segment_rows, index=index, next_id=0, trained=0)
        return cls(folder, catalogue)

    @classmethod
    def open(cls, folder: str | os.PathLike) -> "CodeStore":
        """Open a store made by ``create``.

        Raises
        ------
        OSError
            If ``folder`` does not exist.
        ValueError
            If it is not a store, or one of a newer format.
        """
        folder = Path(folder).absolute()
        if not folder.is_dir():
            raise FileNotFoundError(f"no store at {str(folder)!r}")
        if not (folder / FILE).is_file():
            raise ValueError(f"{str(folder)!r} is not a cae_sim store: it has no {FILE}")
        return cls(folder, Catalogue(folder))

    def close(self) -> None:
        """Close the store's files and database."""
        self.files.forget()
        self.catalogue.close()

    def __enter__(self) -> "CodeStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return self.catalogue.count()

    def __repr__(self) -> str:
        return f"CodeStore({str(self.folder)!r}, {len(self)} codes of {self.width} {self.dtype}, {self.metric})"

    # ------------------------------------------------------------------ adding and removing

    def add(self, codes: np.ndarray, paths: Sequence[str | os.PathLike], *, metadata: dict | None = None) -> Stored:
        """Add codes computed elsewhere (bring your own codes), with the path of each.

        Paths the store holds already, and repeats within ``paths``, are left out and listed in ``known``.

        Parameters
        ----------
        codes : ndarray of shape (n, width)
            Floating-point codes (float16, float32 or float64), finite; kept in the store's dtype.
        paths : sequence of str or path-like
            The file (or any name) of each code; stored as given.
        metadata : dict, optional
            Per-image metadata: ``"size"`` (bytes, ints) and/or ``"sha256"`` (hex strings), one per code.

        Returns
        -------
        Stored

        Raises
        ------
        ValueError
            If the codes are not a finite floating-point (n, width) array, do not fit float16 (for a float16
            store), or ``paths`` or ``metadata`` do not match them.
        """
        codes = checked_codes(codes, self.width, self.dtype, self._block_rows())
        paths = checked_paths(paths, len(codes))
        metadata = checked_metadata(metadata, len(codes))
        with self.catalogue.writing():
            keep, known = self._new(paths)
            kept = codes if len(keep) == len(codes) else codes[keep]  # no copy of a batch of new images only
            ids = self._append(kept, [paths[i] for i in keep], {k: [v[i] for i in keep] for k, v in metadata.items()})
        self._seen = None
        if self.index == "auto" and not self._trained() and len(self) >= COMPRESSED_MIN_CODES:
            self.train_search()
        return Stored(ids, known)

    def add_images(self, pipeline, images, *, batch_size: int = 10_000) -> StoredImages:
        """Encode image files with a fitted pipeline's model and add them, one batch of files at a time.

        A batch is in the store once its progress is shown: a crash loses at most the batch being encoded.

        Parameters
        ----------
        pipeline : Pipeline
            Fitted; its codes must have the store's width.
        images : folder, file, or list of files
            As ``Pipeline.fit`` takes them (not an array: the store keeps paths).
        batch_size : int, default=10_000

        Raises
        ------
        ValueError
            If ``images`` is an array, or the pipeline's codes do not have the store's width.
        """
        from ..images import resolve_source
        from ..model import warn_skipped

        check_int("batch_size", batch_size)
        _, paths, skipped = resolve_source(images)
        if paths is None:
            raise ValueError("a store keeps the file of each image: give files or a folder, not an array")
        known = self.catalogue.known(paths)
        new = [path for path in dict.fromkeys(paths) if path not in known]
        known = sorted(known)
        added_ids, added_paths = [], []
        progress = Progress(len(new), "adding")
        for start in range(0, len(new), batch_size):
            codes, encoded, unreadable = pipeline.transform_readable(new[start:start + batch_size])
            skipped += unreadable
            if codes is not None:
                metadata = {"size": [os.stat(path).st_size for path in encoded], "sha256": [file_sha256(path) for path in encoded]}
                added_ids.append(self.add(codes, encoded, metadata=metadata).ids)
                added_paths += encoded
            progress.add(len(new[start:start + batch_size]))
        progress.close()
        warn_skipped(skipped)
        return StoredImages(np.concatenate(added_ids) if added_ids else np.empty(0, np.int64), added_paths, skipped, known)

    def remove(self, images: Sequence) -> np.ndarray:
        """Mark images removed (they leave every answer at once; ``compact`` frees their space); return their ids.

        Parameters
        ----------
        images : sequence of paths, or of int ids

        Raises
        ------
        ValueError
            If ``images`` is empty or a string, or names an image the store does not hold.
        """
        ids = self._ids_of(images)
        with self.catalogue.writing():
            self.catalogue.mark_deleted(ids)
        self._seen = None
        return ids

    def compact(self) -> int:
        """Rewrite the segments without the removed images, in full segments; return how many were purged."""
        with self.catalogue.writing():
            self._refresh(force=True)
            old, removed = self._segments, self._removed
            live = sum(segment.rows for segment in old) - len(removed)
            number = max((segment.number for segment in old), default=-1) + 1
            rows = self._live_rows(old, removed)
            new = []
            for start in range(0, live, self.segment_rows):
                new.append(self._write_segment(number + len(new), rows, min(self.segment_rows, live - start)))
            self.catalogue.replace_segments([segment.number for segment in old], new)
            purged = self.catalogue.purge_deleted()
        self._seen = None
        with self.catalogue.writing():  # the old files go once no reader is sent to them
            self.files.remove_unlisted({segment.number for segment in new})
        return purged

    # ------------------------------------------------------------------ reading

    def codes(self, ids: Sequence[int]) -> np.ndarray:
        """The codes of images by id, as float32 (n, width), in the order given.

        Raises
        ------
        ValueError
            If an id is not an image of the store.
        """
        ids = np.asarray(ids, dtype=np.int64)
        self._refresh()
        self._check_live(ids)
        unique, back = np.unique(ids, return_inverse=True)
        return self._read(unique, "codes")[back]

    def paths(self, ids: Sequence[int]) -> list[str]:
        """The path of each id (ValueError for an id the store does not hold)."""
        rows = self.catalogue.rows(ids)
        missing = [int(i) for i in ids if int(i) not in rows or rows[int(i)][0] is None]
        if missing:
            raise ValueError(f"not in the store: id {missing[0]}")
        return [rows[int(i)][0] for i in ids]

    def ids(self, paths: Sequence[str | os.PathLike]) -> np.ndarray:
        """The id of each path (ValueError naming a path the store does not hold)."""
        return self._ids_of([os.fspath(path) for path in paths], keep_order=True)

    def labels(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, labels) of every image, by ascending id; the label is -1 before ``cluster``."""
        rows = list(self.catalogue.labels())
        ids = np.array([row[0] for row in rows], np.int64)
        return ids, np.array([-1 if row[1] is None else row[1] for row in rows], np.int64)

    # ------------------------------------------------------------------ searching

    def search(self, codes: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` images nearest to each query code: (distances, ids), each (n_queries, k), nearest first.

        ``k`` shrinks to the number of images where the store holds fewer. Distances are the metric's.

        Raises
        ------
        ValueError
            If ``k`` < 1, the store is empty, or the codes are not (n, width) finite floats.
        """
        check_int("k", k)
        queries = checked_codes(codes, self.width, self.dtype, self._block_rows(), name="queries")
        queries = get_distance(self.metric).prepare(queries.astype(np.float32))
        self._refresh()
        k = min(k, sum(segment.rows for segment in self._segments) - len(self._removed))
        if k < 1:
            raise ValueError("the store is empty: add codes first")
        if self.index != "exact" and self._trained():
            squared, ids = self._compressed_search(queries, k)
        else:
            squared, ids = self._exact_search(queries, k)
        return get_distance(self.metric).from_squared(squared).astype(np.float32), ids

    def query(self, code: np.ndarray, n: int = 10) -> list[StoredMatch]:
        """The ``n`` images nearest to one code (1, width) or (width,), best first, with paths and scores."""
        distances, ids = self.search(np.reshape(code, (1, -1)), n)
        scores = get_distance(self.metric).score(distances[0], self.width)
        paths = self.paths(ids[0])
        return [StoredMatch(int(i), path, float(score)) for i, path, score in zip(ids[0], paths, scores)]

    def train_search(self, sample_size: int = TRAIN_SAMPLE, random_state=0) -> None:
        """Train the compressed search on a sample of the codes and compress every segment's codes.

        ``index="auto"`` does this itself once the store reaches ``COMPRESSED_MIN_CODES`` codes.

        Raises
        ------
        ValueError
            If the store holds fewer than 256 codes (the codebooks' centroids).
        """
        check_int("sample_size", sample_size, minimum=256)
        with self.catalogue.writing():
            self._refresh(force=True)
            sample = self._sample(sample_size, random_state)
            if len(sample) < 256:
                raise ValueError(f"the compressed search needs at least 256 codes to train, the store holds {len(sample)}")
            self.compressed.train(self._prepared(self._read(sample, "codes")), seed=check_random_state(random_state) or 0)
            for segment in self._segments:
                blocks = (self.compressed.encode(self._prepared(block)) for block in self._blocks(segment, "codes"))
                self.files.write_blocks(segment.number, "pq", (segment.rows, self.compressed.code_size()), np.uint8, blocks)
            self.catalogue.set(trained=1)
        self._seen = None

    def duplicates(self, threshold: float, *, n_neighbors: int = 16) -> list[np.ndarray]:
        """Groups of near-duplicate images, as ids: those whose scores chain at or above ``threshold``.

        As ``cae_sim.duplicates.duplicate_groups``, through the store's search (compressed once trained), a
        block of images at a time: never N × N, and only the links in memory.

        Raises
        ------
        ValueError
            If ``threshold`` is outside the metric's scores, or ``n_neighbors`` < 1.
        """
        threshold = check_threshold(threshold, self.metric)
        check_int("n_neighbors", n_neighbors)
        self._refresh()
        live = self._live_ids()
        if len(live) < 2:
            return []
        groups = linked_groups(_LiveNeighbors(self, live), _LiveCodes(self, live), threshold, min(n_neighbors, len(live)))
        return [live[group] for group in groups]

    # ------------------------------------------------------------------ clustering

    def cluster(self, n_clusters: int, *, sample_size: int = CLUSTER_SAMPLE, random_state=0) -> np.ndarray:
        """Fit K-Means (FAISS') on a sample of the codes, then label every image, streaming; return the centres.

        Images added later are labelled with the nearest centre as they come.

        Raises
        ------
        ValueError
            If ``n_clusters`` is not an int ≥ 1, or larger than the sample.
        """
        import faiss

        check_int("n_clusters", n_clusters)
        check_int("sample_size", sample_size)
        with self.catalogue.writing():
            self._refresh(force=True)
            sample = self._prepared(self._read(self._sample(sample_size, random_state), "codes"))
            if n_clusters > len(sample):
                raise ValueError(f"n_clusters={n_clusters} is larger than the codes sampled ({len(sample)})")
            kmeans = faiss.Kmeans(self.width, n_clusters, niter=25, seed=check_random_state(random_state) or 0,
                                  min_points_per_centroid=1, max_points_per_centroid=len(sample))
            kmeans.train(sample)
            centers = kmeans.centroids.astype(np.float32)
            (self.folder / "clusters").mkdir(exist_ok=True)
            write_atomically(self.folder / "clusters" / "centers.npy", lambda file: np.save(file, centers, allow_pickle=False))
            for segment in self._segments:
                for ids, codes in zip(self._blocks(segment, "ids"), self._blocks(segment, "codes")):
                    self.catalogue.set_labels(ids, self._nearest_center(codes, centers))
            self.catalogue.set(clusters=n_clusters)
        self._seen = None
        return centers

    # ------------------------------------------------------------------ internals

    def _block_rows(self) -> int:
        """Rows of one block when codes are streamed or checked (``BLOCK_VALUES`` values)."""
        return max(1, BLOCK_VALUES // self.width)

    def _new(self, paths: list[str]) -> tuple[list[int], list[str]]:
        """Positions of ``paths`` to add (first of each, not in the store) and the paths left out."""
        known, seen, keep, left_out = self.catalogue.known(paths), set(), [], []
        for i, path in enumerate(paths):
            if path in known or path in seen:
                left_out.append(path)
            else:
                keep.append(i)
            seen.add(path)
        return keep, left_out

    def _append(self, codes: np.ndarray, paths: list[str], metadata: dict) -> np.ndarray:
        """Write new segments of ``codes`` and list them and their images (inside a write transaction)."""
        if not len(codes):
            return np.empty(0, np.int64)
        self._refresh()
        self.files.remove_unlisted({segment.number for segment in self._segments})
        first_id = int(self.catalogue.settings()["next_id"])
        ids = np.arange(first_id, first_id + len(codes), dtype=np.int64)
        number = max((segment.number for segment in self._segments), default=-1) + 1
        step = self._block_rows()
        rows = _Rows((ids[i:i + step], codes[i:i + step].astype(self.dtype)) for i in range(0, len(codes), step))
        segments = [self._write_segment(number + i, rows, min(self.segment_rows, len(codes) - start))
                    for i, start in enumerate(range(0, len(codes), self.segment_rows))]
        self.catalogue.replace_segments([], segments)
        self.catalogue.insert(ids, paths, self._labels_of(codes), metadata)
        self.catalogue.set(next_id=first_id + len(codes))
        return ids

    def _write_segment(self, number: int, rows: "_Rows", n: int) -> Segment:
        """Write segment ``number`` from the next ``n`` rows of ``rows`` (blocks of ids, codes and, where known,
        compressed codes): its codes streamed, then its ids (and compressed codes, once the search is trained)."""
        ids, compressed, trained = [], [], self._trained()

        def codes():
            for block_ids, block, *block_compressed in rows.take(n):
                ids.append(block_ids)
                if trained:
                    compressed.append(block_compressed[0] if block_compressed else self.compressed.encode(self._prepared(block)))
                yield block

        self.files.write_blocks(number, "codes", (n, self.width), self.dtype, codes())
        ids = np.concatenate(ids)
        self.files.write(number, {"ids": ids} | ({"pq": np.concatenate(compressed)} if trained else {}))
        return Segment(number, n, int(ids[0]), int(ids[-1]))

    def _trained(self) -> bool:
        return self.catalogue.settings().get("trained") == "1"

    def _refresh(self, force: bool = False) -> None:
        """Read the segments and removed ids again if another process changed the catalogue (or ``force``)."""
        version = self.catalogue.version()
        if force or self._seen != version:
            self._segments = self.catalogue.segments()
            self._removed = self.catalogue.deleted_ids()
            self._segment_ids, self._lists_loaded = {}, False
            self.files.forget()
            self._seen = version

    def _shape(self, segment: Segment, kind: str) -> tuple[tuple, np.dtype]:
        if kind == "codes":
            return (segment.rows, self.width), self.dtype
        if kind == "ids":
            return (segment.rows,), np.dtype(np.int64)
        return (segment.rows, self.compressed.code_size()), np.dtype(np.uint8)

    def _blocks(self, segment: Segment, kind: str):
        shape, dtype = self._shape(segment, kind)
        return self.files.blocks(segment.number, kind, shape, dtype, self._block_rows())

    def _ids_in(self, segment: Segment) -> np.ndarray:
        """The ids of a segment's rows (kept in memory: 8 bytes a row)."""
        if segment.number not in self._segment_ids:
            self._segment_ids[segment.number] = np.concatenate(list(self._blocks(segment, "ids")))
        return self._segment_ids[segment.number]

    def _read(self, ids: np.ndarray, kind: str) -> np.ndarray:
        """The rows of ``kind`` of ascending, unique ``ids``, read from their segments."""
        first_ids = np.array([segment.first_id for segment in self._segments], np.int64)
        where = np.searchsorted(first_ids, ids, side="right") - 1
        if len(ids) and where[0] < 0:
            raise ValueError(f"not in the store: id {int(ids[0])}")
        parts = []
        for position in np.unique(where):
            segment, wanted = self._segments[position], ids[where == position]
            segment_ids = self._ids_in(segment)
            rows = np.minimum(np.searchsorted(segment_ids, wanted), len(segment_ids) - 1)
            if (segment_ids[rows] != wanted).any():
                raise ValueError(f"not in the store: id {int(wanted[segment_ids[rows] != wanted][0])}")
            shape, dtype = self._shape(segment, kind)
            parts.append(self.files.read_rows(segment.number, kind, rows, shape, dtype))
        return np.concatenate(parts).astype(np.float32) if kind == "codes" else np.concatenate(parts)

    def _prepared(self, codes: np.ndarray) -> np.ndarray:
        return get_distance(self.metric).prepare(np.asarray(codes, np.float32))

    def _live_ids(self) -> np.ndarray:
        ids = np.concatenate([self._ids_in(segment) for segment in self._segments] or [np.empty(0, np.int64)])
        return ids[~np.isin(ids, self._removed)]

    def _sample(self, n: int, random_state) -> np.ndarray:
        """Up to ``n`` live ids drawn at random, ascending."""
        live = self._live_ids()
        rng = np.random.default_rng(check_random_state(random_state))
        return np.sort(rng.choice(live, min(n, len(live)), replace=False)) if len(live) > n else live

    def _live_rows(self, segments: list[Segment], removed: np.ndarray) -> "_Rows":
        kinds = ("ids", "codes", "pq") if self._trained() else ("ids", "codes")

        def blocks():
            for segment in segments:
                for block in zip(*(self._blocks(segment, kind) for kind in kinds)):
                    kept = ~np.isin(block[0], removed)
                    yield tuple(part[kept] for part in block)

        return _Rows(blocks())

    def _labels_of(self, codes: np.ndarray) -> np.ndarray | None:
        path = self.folder / "clusters" / "centers.npy"
        if self.catalogue.settings().get("clusters", "0") == "0":
            return None
        return self._nearest_center(codes, np.load(path, allow_pickle=False))

    def _nearest_center(self, codes: np.ndarray, centers: np.ndarray) -> np.ndarray:
        prepared = self._prepared(codes)
        return ((centers**2).sum(axis=1) - 2 * prepared @ centers.T).argmin(axis=1).astype(np.int64)

    def _exact_search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Every live code against the queries: (squared distances, ids) of the ``k`` nearest."""
        blocks = ((ids, self._prepared(codes)) for segment in self._segments
                  for ids, codes in zip(self._blocks(segment, "ids"), self._blocks(segment, "codes")))
        return exact_nearest(queries, blocks, self._removed, k)

    def _compressed_search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """IVF-PQ candidates re-ranked with their exact codes; a query with fewer than ``k`` candidates is searched
        exactly."""
        if not self._lists_loaded:
            self.compressed.load([(self._ids_in(segment), np.concatenate(list(self._blocks(segment, "pq"))))
                                  for segment in self._segments])
            self._lists_loaded = True
        n_candidates = self.compressed.candidates * max(1, k // 10)
        found = [row[row >= 0] for row in self.compressed.candidates_of(queries, n_candidates, self._removed)]
        short = np.array([len(row) < k for row in found])
        squared, ids = np.empty((len(queries), k), np.float32), np.empty((len(queries), k), np.int64)
        if (~short).any():
            unique = np.unique(np.concatenate([row for row, few in zip(found, short) if not few]))
            codes = self._prepared(self._read(unique, "codes"))
            kept = [row for row, few in zip(found, short) if not few]
            squared[~short], ids[~short] = rerank(queries[~short], kept, [codes[np.searchsorted(unique, row)] for row in kept], k)
        if short.any():
            squared[short], ids[short] = self._exact_search(queries[short], k)
        return squared, ids

    def _ids_of(self, images: Sequence, keep_order: bool = False) -> np.ndarray:
        """Ids of images given as paths or ids, all in the store (ascending, unique unless ``keep_order``);
        ValueError naming those that are not."""
        if isinstance(images, (str, bytes, os.PathLike)) or not len(images):
            raise ValueError(f"expected a non-empty list of paths or ids, got {images!r:.80}")
        given = [int(image) if isinstance(image, (int, np.integer)) else os.fsdecode(image) for image in images]
        by_path = self.catalogue.ids_of([image for image in given if isinstance(image, str)])
        live = self.catalogue.live([image for image in given if isinstance(image, int)])
        ids = [by_path.get(image) if isinstance(image, str) else image if image in live else None for image in given]
        missing = [str(image) for image, found in zip(given, ids) if found is None]
        if missing:
            raise ValueError(f"not in the store: {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}")
        ids = np.array(ids, np.int64)
        return ids if keep_order else np.unique(ids)

    def _check_live(self, ids: np.ndarray) -> None:
        bad = ids[np.isin(ids, self._removed)]
        if len(bad):
            raise ValueError(f"not in the store: id {int(bad[0])} was removed")


class _LiveNeighbors:
    """The store's search as ``linked_groups`` asks for it: positions among the live ids ``live``, not ids."""

    def __init__(self, store: CodeStore, live: np.ndarray):
        self.store, self.live = store, live

    def kneighbors(self, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        distances, ids = self.store.search(codes, k)
        return distances, np.searchsorted(self.live, ids)

    def score(self, distances: np.ndarray) -> np.ndarray:
        return get_distance(self.store.metric).score(distances, self.store.width)


class _LiveCodes:
    """The codes of the live ids ``live``, read from the store by position."""

    def __init__(self, store: CodeStore, live: np.ndarray):
        self.store, self.live = store, live

    def __len__(self) -> int:
        return len(self.live)

    def __getitem__(self, positions: np.ndarray) -> np.ndarray:
        return self.store.codes(self.live[positions])


class _Rows:
    """Consecutive rows from an iterator of blocks (tuples of arrays of the same rows), taken ``n`` at a time."""

    def __init__(self, blocks):
        self.blocks, self.pending = iter(blocks), None

    def take(self, n: int):
        """Yield blocks holding the next ``n`` rows in all."""
        while n:
            block = self.pending if self.pending is not None else next(self.blocks)
            self.pending = None
            if len(block[0]) > n:
                self.pending, block = tuple(part[n:] for part in block), tuple(part[:n] for part in block)
            n -= len(block[0])
            if len(block[0]):
                yield block
