"""Pipeline: the facade over a Model (encoder + clustering) and the Collection of images it encoded."""

from __future__ import annotations

import os

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ._checks import check_choice, check_int
from .calibration import DEFAULT_PRECISION, calibrate_collection, check_precision
from .collection import Added, Collection, Match, make_index
from .images import resolve_source, split_sample
from .index import INDEXES, NeighborIndex
from .model import Model, SkippedImagesWarning, warn_skipped
from .persistence import load_pipeline, save_pipeline, verify_save

__all__ = ["Added", "Match", "Pipeline", "SkippedImagesWarning"]


def _part(part: str, name: str, doc: str) -> property:
    """A read-only fitted attribute of the pipeline that is ``name`` of its ``part`` (``model_`` or ``collection_``)."""

    def get(self):
        check_is_fitted(self, part)
        return getattr(getattr(self, part), name)

    return property(get, doc=doc)


class Pipeline(BaseEstimator):
    """Group images into clusters and find the most similar ones: a ``Model`` and the ``Collection`` it encodes.

    Parameters
    ----------
    encoder, n_clusters, clustering, image_size, code_size, epochs, batch_size, metric, cluster_sample_size, \
random_state, n_jobs, verbose, cache_dir
        Those of ``Model``.
    index : {"auto", "exact", "faiss-flat", "faiss-ivf", "faiss-ivfpq", "faiss-hnsw"} or NeighborIndex, default="auto"
        How neighbours are searched: exactly in NumPy, or with FAISS (flat,
        inverted lists, compressed inverted lists, or a graph); ``"auto"``: the
        rule of ``cae_sim.defaults.choose_index``; an index object is cloned
        with the pipeline's metric.
    duplicate_precision : float, default=0.98
        Precision that the near-duplicate threshold calibrated during ``fit``
        aims at (see ``calibration_``).
    sample_size : int or None, default=None
        Fit the model on a random sample of this many images, then encode the
        others and add them to the collection (``random_state`` seeds the
        sample). None: fit on every image.

    Attributes
    ----------
    model_ : Model
        The fitted encoder and clustering; ``encoder_``, ``encoder_choice_``,
        ``clustering_``, ``n_clusters_`` and ``cluster_centers_`` are its.
    collection_ : Collection
        The encoded images; ``codes_``, ``labels_``, ``paths_`` (absolute;
        None for array input), ``skipped_``, ``index_`` and ``calibration_``
        are its.
    """

    def __init__(self, *, encoder="auto", n_clusters="auto", clustering="auto", image_size=None, code_size=None,
                 epochs=None, batch_size=None, metric="cosine", index="auto", cluster_sample_size=100_000,
                 duplicate_precision=DEFAULT_PRECISION, sample_size=None, random_state=None, n_jobs=-1, verbose=0,
                 cache_dir=None):
        self.encoder = encoder
        self.n_clusters = n_clusters
        self.clustering = clustering
        self.image_size = image_size
        self.code_size = code_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.metric = metric
        self.index = index
        self.cluster_sample_size = cluster_sample_size
        self.duplicate_precision = duplicate_precision
        self.sample_size = sample_size
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.cache_dir = cache_dir

    encoder_ = _part("model_", "encoder_", "The fitted Encoder.")
    encoder_choice_ = _part("model_", "encoder_choice_", "Which encoder was used and why.")
    choices_ = _part("model_", "choices_", "Every automatic choice as resolved.")
    clustering_ = _part("model_", "clustering_", "The fitted Clustering.")
    n_clusters_ = _part("model_", "n_clusters_", "The number of clusters.")
    cluster_centers_ = _part("model_", "cluster_centers_", "Cluster centres in the clustering's own space.")
    codes_ = _part("collection_", "codes", "(n_images, d) float32 code of each image of the collection.")
    labels_ = _part("collection_", "labels", "(n_images,) cluster of each image.")
    paths_ = _part("collection_", "paths", "Absolute file of each image; None for array input.")
    skipped_ = _part("collection_", "skipped", "Files that could not be read, with the reason.")
    index_ = _part("collection_", "index", "The NeighborIndex over the codes.")
    calibration_ = _part("collection_", "calibration", "The near-duplicate Calibration, or None.")

    def fit(self, X, y=None) -> "Pipeline":
        """Fit the model on the images of X (a folder, files or an array, as ``Model.fit_encode`` takes) and build
        the collection of their codes; return self. Unreadable files are skipped, listed in ``skipped_`` and
        reported in one ``SkippedImagesWarning``; ValueError on a bad parameter or input."""
        self.check_params()
        sample, rest, listed = (X, None, []) if self.sample_size is None else split_sample(X, self.sample_size, self.random_state)
        warn_skipped(listed)
        model = self.make_model()
        encoded, labels = model.fit_encode(sample)
        index = make_index(self.index, self.metric, len(encoded.codes)).fit(encoded.codes)
        calibration = calibrate_collection(model.encoder_, index, encoded.codes, encoded.items, encoded.kept,
                                           self.duplicate_precision, self.random_state, self.verbose)
        self.model_ = model
        self.collection_ = Collection(encoded.codes, labels, encoded.paths, index=index,
                                      skipped=listed + encoded.skipped, calibration=calibration)
        if rest is not None:
            self.add(rest)
        return self

    def set_params(self, **params) -> "Pipeline":
        """Set parameters, as scikit-learn's ``set_params``; ``verbose`` reaches a fitted ``model_`` too, so that a
        loaded save shows progress (or not) as told, whatever the run that saved it did."""
        super().set_params(**params)
        if "verbose" in params and hasattr(self, "model_"):
            self.model_.set_params(verbose=params["verbose"])
        return self

    def make_model(self) -> Model:
        """The unfitted Model of this pipeline's parameters."""
        return Model(**{name: getattr(self, name) for name in Model._get_param_names()})

    def check_params(self) -> None:
        """Raise ValueError naming the first parameter that is not valid."""
        self.make_model().check_params()
        if not isinstance(self.index, NeighborIndex):
            check_choice("index", self.index, ("auto", *INDEXES))
        check_precision(self.duplicate_precision)
        if self.sample_size is not None:
            check_int("sample_size", self.sample_size)

    def transform(self, X) -> np.ndarray:
        """Return the codes of images, shape (n_images, d), float32; see ``Model.transform``."""
        return self._model().transform(X)

    def transform_readable(self, X) -> tuple[np.ndarray | None, list[str] | None, list[tuple[str, str]]]:
        """Return the codes of the readable images of X, their (absolute) paths, and the files skipped."""
        encoded = self._model().encode_readable(X)
        return encoded.codes, encoded.paths, encoded.skipped

    def predict(self, X) -> np.ndarray:
        """Return the cluster of each image, shape (n_images,)."""
        return self._model().predict(X)

    def kneighbors(self, X=None, n_neighbors: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Return (distances, indices) into the collection, each (n_images, k), nearest first; X None: those of
        every image of the collection, each left out of its own."""
        codes = None if X is None else self.transform(X)
        return self._collection().kneighbors(codes, n_neighbors)

    def query(self, image, n: int = 10, *, exclude_self: bool = False) -> list[Match]:
        """Return the ``n`` images of the collection most like ``image`` (a file or an array), best first;
        ``exclude_self`` leaves out those that are the file ``image`` itself. ValueError if ``n`` < 1 or the image
        cannot be read, OSError if the file does not exist."""
        check_int("n", n)
        code = self._model().encode_one(image)
        collection = self._collection()
        if not exclude_self or isinstance(image, np.ndarray) or collection.paths is None:
            return collection.query(code, n)
        real, k = os.path.realpath(image), n + 1  # only the candidates' paths are resolved, never the collection's
        while True:
            candidates = collection.query(code, k)
            others = [match for match in candidates if os.path.realpath(match.path) != real]
            if len(others) >= n or len(candidates) < k:
                return others[:n]
            k *= 2

    def similarity(self, a, b) -> float:
        """Return how alike two images are: the score of ``Match`` (cosine similarity by default)."""
        model = self._model()
        return self._collection().similarity(model.encode_one(a), model.encode_one(b))

    def duplicates(self, threshold: float | None = None) -> list[list[int]]:
        """Return groups of near-duplicate images (positions); ``threshold`` None: ``duplicate_threshold``, the
        one calibrated during ``fit``. See ``Collection.duplicates``."""
        return self._collection().duplicates(threshold)

    @property
    def duplicate_threshold(self) -> float:
        """The near-duplicate threshold ``duplicates()`` uses by default."""
        return self._collection().duplicate_threshold

    def describe_score(self, score: float) -> str:
        """``"copy"``, ``"similar"`` or ``""`` for a score, by the collection's calibration."""
        return self._collection().describe_score(score)

    def distance_to_center(self) -> np.ndarray:
        """Return each image's euclidean distance to the centre of its cluster, in the clustering's space."""
        return self._model().distance_to_center(self.codes_, self.labels_)

    def add(self, X, client=None, model_dir: str | os.PathLike | None = None) -> Added:
        """Encode new images (as ``fit`` takes them) with the fitted model and add them to the collection.

        Nothing is retrained. Files the collection holds already are left out and listed in ``known``; unreadable
        ones are skipped, reported as in ``fit`` and appended to ``skipped_``. With a Dask ``client``, files are
        encoded on its workers from the save at ``model_dir`` (``cae_sim.distributed.encode_on_cluster``).
        Raises ValueError if X is files and the collection came from an array, or the reverse.
        """
        model, collection = self._model(), self._collection()
        items, paths, skipped = resolve_source(X)
        items, known = collection.split_known(items, paths)
        if not len(items):
            encoded_codes, new_paths, unreadable = None, [], []
        elif client is not None:
            from .distributed import encode_on_cluster

            encoded_codes, new_paths, unreadable = encode_on_cluster(model, items, client, model_dir)
        else:
            encoded = model.encode_readable(items)
            encoded_codes, new_paths, unreadable = encoded.codes, encoded.paths, encoded.skipped
        skipped += unreadable
        warn_skipped(skipped)
        collection.skipped += skipped
        if encoded_codes is None:
            return Added(np.empty(0, np.int64), None if paths is None else [], skipped, known)
        positions = collection.add(encoded_codes, model.predict_codes(encoded_codes), new_paths)
        return Added(positions, new_paths, skipped, known)

    def remove(self, images) -> "Pipeline":
        """Take images (files of the collection, or positions) out of the collection; see ``Collection.remove``."""
        self._collection().remove(images)
        return self

    def save(self, directory: str | os.PathLike) -> None:
        """Save the fitted pipeline into a directory, atomically; see ``cae_sim.persistence``."""
        check_is_fitted(self, "collection_")
        save_pipeline(self, directory)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "Pipeline":
        """Load a save; checks the manifest and small files, and large arrays by size and header (``verify``:
        every byte). Raises OSError if the directory does not exist, ValueError if it is damaged or foreign."""
        return load_pipeline(directory, cls)

    def verify(self) -> int:
        """Check every byte of the save this pipeline was loaded from; return how many files. ValueError if it was
        not loaded from a save, or a file is missing or changed (the message names it)."""
        if getattr(self, "save_dir_", None) is None:
            raise ValueError("this pipeline was not loaded from a save: nothing to verify")
        return verify_save(self.save_dir_)

    def _model(self) -> Model:
        check_is_fitted(self, "model_")
        return self.model_

    def _collection(self) -> Collection:
        check_is_fitted(self, "collection_")
        return self.collection_
