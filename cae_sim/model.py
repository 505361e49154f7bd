"""Model: what is learned once from a collection of images — the encoder and the clustering of its codes."""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from ._checks import check_choice, check_int, check_n_clusters, check_random_state
from .clustering import CLUSTERINGS, Clustering
from .defaults import auto_image_size, choose_clustering, choose_encoder
from .index import METRICS
from .encoders import Encoder, Ensemble, encoder_class
from .images import resolve_source, typical_side
from .reading import encode_images, read_into_cache

logger = logging.getLogger(__name__)

#: Model parameters that configure the encoder; each must apply to the encoder used.
ENCODER_SETTINGS = ("image_size", "code_size", "epochs", "batch_size")


class SkippedImagesWarning(UserWarning):
    """Some files of a folder or list could not be read and were left out."""


def warn_skipped(skipped: list[tuple[str, str]], stacklevel: int = 3) -> None:
    """One warning listing the unreadable files, if any; it points at the caller of fit or add."""
    if skipped:
        listing = "\n".join(f"  {path}: {reason}" for path, reason in skipped)
        warnings.warn(f"skipped {len(skipped)} unreadable file(s):\n{listing}", SkippedImagesWarning, stacklevel=stacklevel)


class Encoded(NamedTuple):
    """Images read and encoded.

    Attributes
    ----------
    codes : ndarray of shape (n_read, d), float32, or None if no image could be read
    paths : list of str or None
        The file of each row of ``codes`` (absolute); None for array input.
    skipped : list of (str, str)
        Files that could not be read, with the reason.
    items : list of str or ndarray
        The images as resolved from the input (absolute paths, or the array).
    kept : list of int
        Position in ``items`` of each row of ``codes``.
    """

    codes: np.ndarray | None
    paths: list[str] | None
    skipped: list[tuple[str, str]]
    items: Sequence | np.ndarray
    kept: list[int]


class Model(BaseEstimator):
    """An encoder fitted on images, and a clustering fitted on their codes.

    Parameters
    ----------
    encoder : str, list of str, or Encoder, default="auto"
        ``"auto"``: the default of ``cae_sim.defaults``, the same for every
        collection; a registered encoder's name (``cae_sim.encoders.ENCODERS``),
        a list of names (an ``Ensemble``), or an Encoder object (cloned).
    n_clusters : int or "auto", default="auto"
        Number of clusters; ``"auto"`` chooses it by silhouette score.
    clustering : {"auto", "kmeans", "manifold"}, default="auto"
        K-Means on the codes as the metric prepares them, or a Gaussian mixture
        on their UMAP embedding; ``"auto"``: ``cae_sim.defaults.choose_clustering``.
    image_size, code_size, epochs, batch_size : int or None, default=None
        Settings of the encoder named by ``encoder``; each one given must apply
        to it (with ``encoder="auto"`` one that does not is ignored with a
        warning). ``image_size`` is the side the images are resized to (a
        pretrained CNN's ``input_size``). None: the encoder's own default.
    metric : {"cosine", "euclidean", "hamming"}, default="cosine"
        How codes are compared.
    cluster_sample_size : int, default=100_000
        Most codes the clustering is fitted on; the others are assigned by ``predict``.
    random_state : int or None, default=None
        Seeds every random choice.
    n_jobs : int, default=-1
        Threads decoding images (-1: one per core).
    verbose : int, default=0
        0 silent; 1 progress bars.
    cache_dir : str or None, default=None
        Folder of the temporary uint8 image cache of a trainable encoder's fit.

    Attributes
    ----------
    encoder_ : Encoder
        The fitted encoder.
    encoder_choice_ : str
        Which encoder and why: ``"given"``, or the rule's reason for ``"auto"``.
    choices_ : dict
        Every automatic choice as resolved: ``encoder``, ``clustering``, ``image_size``.
    clustering_ : Clustering
        The fitted clustering; ``n_clusters_`` and ``cluster_centers_`` (in its own space) are its.
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
        cluster_sample_size=100_000,
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
        self.cluster_sample_size = cluster_sample_size
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.cache_dir = cache_dir

    # ------------------------------------------------------------------ fitting

    def fit(self, X, y=None) -> "Model":
        """Fit the encoder on the images of X and the clustering on their codes; see ``fit_encode``."""
        self.fit_encode(X)
        return self

    def fit_encode(self, X) -> tuple[Encoded, np.ndarray]:
        """Fit the model and return the codes of the images it was fitted on, with their clusters.

        Parameters
        ----------
        X : str, path-like, list of paths, or ndarray
            A folder (scanned recursively), image files, or an array (N, H, W)
            or (N, H, W, C). Unreadable files are skipped, reported in one
            ``SkippedImagesWarning`` and listed in the result.

        Returns
        -------
        encoded : Encoded
        labels : ndarray of shape (n_read,), int

        Raises
        ------
        ValueError
            On a bad parameter, an empty folder, a bad array, no readable
            image, or more clusters than images.
        """
        self.check_params()
        items, paths, skipped = resolve_source(X)
        encoder, choice, manifold = self._make_encoder(items)
        if encoder.learns_from_images:
            codes, kept, unreadable = self._fit_from_cache(encoder, items)
        else:  # nothing to train: decoding overlaps encoding, and no cache is written
            encoder.fit(None)
            codes, kept, unreadable = encode_images(encoder, items, n_jobs=self.n_jobs, verbose=self.verbose, skip_errors=True)
            self._check_readable(items, kept, unreadable)
        skipped += unreadable
        warn_skipped(skipped, stacklevel=4)
        kind = choose_clustering(self.clustering, manifold, len(codes))
        clustering = CLUSTERINGS[kind](n_clusters=self.n_clusters, random_state=self.random_state)
        if "verbose" in clustering.get_params():  # a registered clustering need not take it
            clustering.set_params(verbose=self.verbose)
        labels = self._fit_clustering(clustering, codes)
        choices = {"encoder": encoder.name, "clustering": kind, "image_size": encoder.image_size}
        self.set_fitted(encoder, clustering, choice, choices)
        encoded = Encoded(codes, None if paths is None else [paths[i] for i in kept], skipped, items, kept)
        return encoded, labels

    def set_fitted(self, encoder: Encoder | Callable[[], Encoder], clustering: Clustering, choice: str,
                   choices: dict) -> "Model":
        """Set the learned state, after ``fit`` or when a save is loaded (which hands over a callable that
        reads the encoder on first use)."""
        self._encoder = encoder
        self.encoder_choice_ = choice
        self.choices_ = choices
        self.clustering_ = clustering
        self.n_clusters_ = clustering.n_clusters_
        self.cluster_centers_ = clustering.cluster_centers_
        return self

    @property
    def encoder_(self) -> Encoder:
        """The fitted encoder."""
        if "_encoder" not in vars(self):
            raise AttributeError("encoder_ is set by fit")
        if not isinstance(self._encoder, Encoder):
            self._encoder = self._encoder()
        return self._encoder

    def check_params(self) -> None:
        """Raise ValueError naming the first parameter that is not valid."""
        check_choice("metric", self.metric, METRICS)
        check_random_state(self.random_state)
        check_int("verbose", self.verbose, minimum=0)
        check_n_clusters(self.n_clusters)
        check_choice("clustering", self.clustering, ("auto", *CLUSTERINGS))
        for name in ENCODER_SETTINGS:
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name))
        check_int("cluster_sample_size", self.cluster_sample_size)
        if isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, int) or self.n_jobs == 0:
            raise ValueError(f"n_jobs must be a non-zero int (-1: one per core), got {self.n_jobs!r}")

    def _fit_clustering(self, clustering: Clustering, codes: np.ndarray) -> np.ndarray:
        """Fit the clustering on the codes, or on a random sample of ``cluster_sample_size`` of them (the rest
        are assigned with ``predict``); return every code's label."""
        prepared = clustering.prepare(codes, self.metric)
        if len(codes) <= self.cluster_sample_size:
            return clustering.fit(prepared).labels_
        sample = np.random.default_rng(self.random_state).choice(len(codes), self.cluster_sample_size, replace=False)
        logger.info("clustering a sample of %d of %d codes", self.cluster_sample_size, len(codes))
        clustering.fit(prepared[np.sort(sample)])
        return clustering.predict(prepared)

    def _fit_from_cache(self, encoder: Encoder, items):
        """Decode every image once into a temporary uint8 memmap, train the encoder on it and encode it."""
        with tempfile.TemporaryDirectory(prefix="cae_sim-cache-", dir=self.cache_dir) as cache:
            pixels, kept, skipped = read_into_cache(items, encoder.image_size, cache, n_jobs=self.n_jobs,
                                                    verbose=self.verbose)
            self._check_readable(items, kept, skipped)  # before training, not after
            logger.info("read %d images, skipped %d", len(kept), len(skipped))
            codes = encoder.fit_encode(pixels)
            del pixels  # close the memmap before its folder goes
        return codes, kept, skipped

    def _check_readable(self, items, kept, skipped) -> None:
        if not kept:
            raise ValueError(f"none of the {len(items)} images could be read; first failure: {skipped[0][0]}: {skipped[0][1]}")
        if self.n_clusters != "auto" and self.n_clusters > len(kept):
            raise ValueError(f"n_clusters={self.n_clusters} is larger than the number of images read ({len(kept)})")

    def _make_encoder(self, items) -> tuple[Encoder, str, bool]:
        """Return the encoder to fit, which it is and why (``encoder_choice_``), and whether
        ``clustering="auto"`` should cluster its codes on a UMAP manifold.

        Raises
        ------
        ValueError
            If a setting (image_size, code_size, epochs, batch_size) is given that the encoder does not take.
        """
        if isinstance(self.encoder, (Encoder, list, tuple)):
            given = [f"{name}={getattr(self, name)}" for name in ENCODER_SETTINGS if getattr(self, name) is not None]
            if given:
                what = "an object" if isinstance(self.encoder, Encoder) else "a list"
                raise ValueError(f"{', '.join(given)} does not apply to an encoder given as {what}: set them on the encoder objects")
            encoder = clone(self.encoder) if isinstance(self.encoder, Encoder) else Ensemble(encoders=list(self.encoder))
            return encoder, "given", encoder.cluster_on_manifold
        name, choice, chosen = self.encoder, "given", None
        if name == "auto":
            chosen = choose_encoder()
            name, choice = chosen.name, chosen.describe()
        cls = encoder_class(name)
        accepted = cls._get_param_names()
        settings = self._encoder_settings(accepted, auto=chosen is not None)
        if "image_size" in accepted and settings.get("image_size") is None:
            settings["image_size"] = auto_image_size(typical_side(items))
        ignored = {key: value for key, value in settings.items() if value is not None and key not in accepted}
        if ignored:
            listed = ", ".join(f"{key}={value}" for key, value in ignored.items())
            if chosen is None:
                raise ValueError(f"{listed} does not apply to encoder {name!r}; leave it None")
            warnings.warn(f"{listed} is ignored: encoder='auto' chose {name!r}, which does not take it", UserWarning, stacklevel=5)
        shared = {"model": name, "random_state": self.random_state, "verbose": self.verbose, "cache_dir": self.cache_dir, **settings}
        if chosen is not None:
            shared.update(chosen.settings)
        encoder = cls(**{key: value for key, value in shared.items() if key in accepted and value is not None})
        return encoder, choice, encoder.cluster_on_manifold if chosen is None else chosen.manifold

    def _encoder_settings(self, accepted: list[str], auto: bool) -> dict:
        """The encoder settings given to the model, by the encoder parameter they set.

        ``image_size`` sets a pretrained CNN's ``input_size``, except when
        ``encoder="auto"`` chose it: the size was then meant for the autoencoder.
        """
        settings = {name: getattr(self, name) for name in ENCODER_SETTINGS}
        if "image_size" not in accepted and "input_size" in accepted and not auto:
            settings["input_size"] = settings.pop("image_size")
        return settings

    # ------------------------------------------------------------------ using a fitted model

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
        check_is_fitted(self, "encoder_")
        items, _, _ = resolve_source(X)
        return encode_images(self.encoder_, items, n_jobs=self.n_jobs, verbose=self.verbose, skip_errors=False)[0]

    def encode_readable(self, X) -> Encoded:
        """Encode the readable images of X; files that cannot be read are left out and reported, as in ``fit``.

        Returns
        -------
        Encoded
        """
        check_is_fitted(self, "encoder_")
        items, paths, skipped = resolve_source(X)
        codes, kept, unreadable = encode_images(self.encoder_, items, n_jobs=self.n_jobs, verbose=self.verbose,
                                                   skip_errors=True)
        return Encoded(codes, None if paths is None else [paths[i] for i in kept], skipped + unreadable, items, kept)

    def encode_one(self, image) -> np.ndarray:
        """Return the code of one image (a file or an array (H, W) or (H, W, C)), shape (1, d).

        Raises
        ------
        ValueError
            If ``image`` is not one image, or cannot be read.
        """
        if isinstance(image, np.ndarray):
            if image.ndim not in (2, 3):
                raise ValueError(f"expected one image of shape (H, W) or (H, W, C), got shape {image.shape}")
            return self.transform(image[np.newaxis])
        if isinstance(image, (str, os.PathLike)):
            if os.path.isdir(image):
                raise ValueError(f"expected one image file, got the folder {os.fspath(image)!r}")
            return self.transform([image])
        raise ValueError(f"expected one image (a path or an array), got {type(image).__name__}")

    def predict(self, X) -> np.ndarray:
        """Return the cluster of each image, shape (n_images,)."""
        return self.predict_codes(self.transform(X))

    def predict_codes(self, codes: np.ndarray) -> np.ndarray:
        """Return the cluster of each code, shape (n_codes,)."""
        check_is_fitted(self, "clustering_")
        return self.clustering_.predict(self.clustering_.prepare(codes, self.metric))

    def distance_to_center(self, codes: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Return each code's euclidean distance to the centre of cluster ``labels``, in the clustering's space."""
        check_is_fitted(self, "clustering_")
        distances = self.clustering_.transform(self.clustering_.prepare(codes, self.metric))
        return distances[np.arange(len(distances)), labels]
