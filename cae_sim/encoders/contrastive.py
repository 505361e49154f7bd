"""Contrastive fine-tuning: a frozen backbone and a small projection head trained with NT-Xent on the user's images.

The backbone never changes, so it is run once per view: ``fit`` encodes a fixed
number of views of each image (the image itself and randomly augmented copies)
into a float16 memmap on disk, then trains the head for many epochs on those
cached features alone. Each step takes a batch of images, two of their cached
views each, and pulls the two together while pushing away the other 2N − 2
views of the batch (SimCLR's normalised temperature-scaled cross-entropy).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._checks import at_least, check_int, check_positive, check_seed, none_or, one_of, satisfies
from ..augment import Augment, make_augment
from ..codes import l2_normalize
from ..defaults import contrastive_batch_size
from ..progress import Progress
from .._registry import ENCODERS
from .backbones import BACKBONES
from .base import Encoder, built_adam, check_augment, check_images, predict_batches, to_uint8, train_epochs
from .ensemble import Ensemble
from .members import is_fitted, load_member, member_encoder, save_member
from .litert import RUNTIMES
from .saved_models import check_fits, read_history
from .trained import TrainedNetwork

if TYPE_CHECKING:  # Keras loads when a model is built, loaded or trained, not with the encoders
    import keras
    import tensorflow as tf

HEAD_FILE = "head.keras"
HISTORY_FILE = "history.json"
BACKBONE_DIR = "backbone"
OUTPUTS = ("head", "concat")
#: Images per backbone pass while caching views.
ENCODE_BATCH = 64
#: Feature rows per pass of the head.
HEAD_BATCH = 1024


def nt_xent(first: tf.Tensor, second: tf.Tensor, temperature: float) -> tf.Tensor:
    """The NT-Xent loss of paired views (Chen et al. 2020, SimCLR).

    Parameters
    ----------
    first, second : tensors of shape (n, d)
        Two views' codes; row i of each comes from the same image.
    temperature : float
        Cosine similarities are divided by it before the softmax.

    Returns
    -------
    scalar tensor
        Mean over the 2n views of the cross-entropy of finding its partner
        among the other 2n − 1 views.
    """
    import tensorflow as tf
    codes = tf.math.l2_normalize(tf.concat([first, second], axis=0), axis=1)
    n = tf.shape(first)[0]
    logits = tf.matmul(codes, codes, transpose_b=True) / temperature
    logits -= 1e9 * tf.eye(2 * n)  # a view is not its own partner
    partners = tf.concat([tf.range(n, 2 * n), tf.range(0, n)], axis=0)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=partners, logits=logits))


def _is_backbone(value) -> bool:
    """True for a pretrained model's name, an Encoder, or a list (or tuple) of two or more of those."""
    if isinstance(value, (list, tuple)):
        return len(value) >= 2 and all(map(_is_member, value))
    return _is_member(value)


def _is_member(value) -> bool:
    return isinstance(value, Encoder) or (isinstance(value, str) and value in BACKBONES)


@ENCODERS.register("contrastive")
class ContrastiveEncoder(Encoder):
    """A frozen backbone followed by a projection head trained with NT-Xent on the images.

    Parameters
    ----------
    backbone : str, list of str, or Encoder, default="efficientnet_lite0"
        A pretrained model's name, a list of names (an ``Ensemble``: codes
        concatenated), or an Encoder object: used as it is if already fitted
        (e.g. a trained ``ConvAutoencoder``), else cloned and fitted on the images.
    views : int, default=8
        Views cached per image: the image itself and ``views - 1`` augmented copies.
    augment : str, dict, Augment or None, default="degrade"
        The augmentation policy of the views: a preset name, ``Augment`` keywords, or a policy.
        ``"degrade"`` is SimCLR's transforms plus rotation, down-scaling, JPEG and
        noise, for matching degraded copies (``experiments/copy_matching.py``
        compares it with ``"simclr"``).
    width : int, default=512
        Units of the head's hidden layer.
    code_size : int, default=128
        Length of the head's output.
    temperature : float, default=0.1
        NT-Xent temperature.
    output : {"head", "concat"}, default="head"
        Codes: the head's output, or the L2-normalised backbone features and
        head output side by side.
    epochs : int, default=400
        Passes of head training over the cached views.
    batch_size : int or None, default=None
        Images per step (each gives two views), 2 or more; None:
        ``defaults.contrastive_batch_size`` (as many as there are, up to a bound).
    learning_rate : float, default=1e-3
        Adam's learning rate.
    cache_dir : str or None, default=None
        Folder of the temporary view cache (default: the system's temporary folder).
    random_state : int or None, default=None
        Seeds the augmentations, the choice of views and batches, and the head's weights.
    verbose : int, default=0
        0 silent; 1 progress bars of the view caching and the training on standard error.
    runtime : {"litert", "keras"}, default="litert"
        What runs the trained head (``trained.TrainedNetwork``); the backbone has its own. Training runs on Keras.

    Attributes
    ----------
    backbone_ : Encoder
        The fitted, frozen backbone.
    network_ : TrainedNetwork
        The head on the runtime.
    head_ : keras.Model
        The projection head: backbone features (L2-normalised) → code (loaded on first use after ``load``).
    history_ : dict
        ``{"loss": [...]}``, the mean loss of each epoch.
    """

    name = "contrastive"
    _parameter_constraints = {
        "backbone": satisfies(_is_backbone, "a pretrained model's name, an Encoder, or a list of two or more of those"),
        "views": at_least(2),
        "augment": check_augment,
        "width": check_int,
        "code_size": check_int,
        "temperature": check_positive,
        "output": one_of(OUTPUTS),
        "epochs": check_int,
        "batch_size": none_or(at_least(2)),
        "learning_rate": check_positive,
        "cache_dir": none_or(satisfies(lambda value: isinstance(value, (str, os.PathLike)), "a folder's path")),
        "random_state": check_seed,
        "verbose": at_least(0),
        "runtime": one_of(RUNTIMES),
    }

    def __init__(
        self,
        *,
        backbone="efficientnet_lite0",
        views: int = 8,
        augment="degrade",
        width: int = 512,
        code_size: int = 128,
        temperature: float = 0.1,
        output: str = "head",
        epochs: int = 400,
        batch_size: int | None = None,
        learning_rate: float = 1e-3,
        cache_dir=None,
        random_state: int | None = None,
        verbose: int = 0,
        runtime: str = "litert",
    ):
        self.backbone = backbone
        self.views = views
        self.augment = augment
        self.width = width
        self.code_size = code_size
        self.temperature = temperature
        self.output = output
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.cache_dir = cache_dir
        self.random_state = random_state
        self.verbose = verbose
        self.runtime = runtime

    @property
    def image_size(self) -> int:
        """The backbone's input side."""
        return (self.backbone_ if hasattr(self, "backbone_") else self._unfitted_backbone()).image_size

    def fit(self, images: np.ndarray) -> "ContrastiveEncoder":
        """Cache the backbone's features of ``views`` views of each image, then train the head.

        Parameters
        ----------
        images : ndarray of shape (N, image_size, image_size, 3)
            uint8 or float in [0, 1], N >= 2; a numpy memmap is read batch by batch.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            On a bad parameter, or fewer than two images of the wrong shape.
        """
        with self._fitting(images) as cache:
            self._fit_head(images, cache)
        return self

    def fit_encode(self, images: np.ndarray) -> np.ndarray:
        """Fit on images and return their codes, from the backbone features cached for the training.

        Parameters
        ----------
        images : ndarray of shape (N, image_size, image_size, 3)
            uint8 or float in [0, 1], N >= 2; a numpy memmap is read batch by batch.

        Returns
        -------
        ndarray of shape (N, code_size), or wider with ``output="concat"``, float32
            The codes ``encode(images)`` gives after the fit.
        """
        with self._fitting(images) as cache:
            originals = self._fit_head(images, cache)
            codes = predict_batches(self._codes, originals, HEAD_BATCH)
            del originals  # close the memmap before its folder goes
        return codes

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Return the codes of images (N, image_size, image_size, 3): (N, code_size), or wider with ``output="concat"``."""
        check_is_fitted(self, "network_")
        check_images(images, self.image_size)
        return predict_batches(self._codes, l2_normalize(self.backbone_.encode(images)), HEAD_BATCH)

    def save(self, directory: Path) -> None:
        """Write the head (``.keras``), its loss history and the backbone (by name and hash, or its own files)."""
        check_is_fitted(self, "network_")
        self.network_.save(Path(directory) / HEAD_FILE)
        (Path(directory) / HISTORY_FILE).write_text(json.dumps(self.history_))
        save_member(self.backbone_, Path(directory) / BACKBONE_DIR)

    @classmethod
    def load(cls, directory: Path, params: dict) -> "ContrastiveEncoder":
        """Rebuild a fitted encoder from ``save``'s directory.

        Raises
        ------
        ValueError
            Naming the file, if the head cannot be loaded safely or is not the one ``params`` and the backbone describe.
        """
        encoder = cls._from_params(params)
        encoder.backbone_ = load_member(Path(directory) / BACKBONE_DIR)
        encoder.network_ = TrainedNetwork.load(Path(directory) / HEAD_FILE,
                                               **encoder._network_settings(encoder._feature_width()))
        encoder.history_ = read_history(Path(directory) / HISTORY_FILE)
        return encoder

    @property
    def head_(self) -> keras.Model:
        check_is_fitted(self, "network_")
        return self.network_.model

    def _network_settings(self, width: int) -> dict:
        """How ``TrainedNetwork`` runs and checks the head, which takes ``width`` features of the fitted backbone."""
        return dict(runtime=self.runtime, input_shape=(width,), check=self._check_head,
                    signature=json.dumps([width, self.width, self.code_size]))

    def _feature_width(self) -> int:
        """The width of the fitted backbone's features."""
        return self.backbone_.encode(np.zeros((1, self.image_size, self.image_size, 3), np.uint8)).shape[1]

    def _check_head(self, path: Path, head: keras.Model) -> None:
        """Raise ValueError naming ``path`` unless the head takes the backbone's features to ``width``, then
        ``code_size``."""
        check_fits(path, "input shape", tuple(head.input_shape), (None, self._feature_width()))
        widths = [layer.units for layer in head.layers if type(layer).__name__ == "Dense"]
        check_fits(path, "Dense layers' units", tuple(widths), (self.width, self.code_size))

    # ------------------------------------------------------------------ fitting steps

    @contextmanager
    def _fitting(self, images: np.ndarray) -> Iterator[Path]:
        """Check the parameters and the images, then lend a temporary folder for the view cache."""
        self._validate_params()
        check_images(images, self.image_size, minimum=2)
        with tempfile.TemporaryDirectory(prefix="cae_sim-views-", dir=self.cache_dir) as cache:
            yield Path(cache)

    def _fit_head(self, images: np.ndarray, cache: Path) -> np.ndarray:
        """Fit the backbone if need be, cache the views' features in ``cache``, train the head.

        Returns the float32 memmap (N, d) of the images' own L2-normalised features (in ``cache``).
        """
        rng = np.random.default_rng(self.random_state)
        self.backbone_ = self._fitted_backbone(images)
        augment = make_augment(self.augment, None if self.random_state is None else int(rng.integers(2**31)))
        views, originals = self._cache_views(images, augment, cache)
        width = views.shape[2]
        self.network_ = TrainedNetwork(self._build_head(width, self.random_state), **self._network_settings(width))
        self.history_ = self._train_head(views, rng)
        return originals

    def _codes(self, features: np.ndarray) -> np.ndarray:
        """Codes of L2-normalised backbone features: the head's output, or both side by side."""
        head = np.asarray(self.network_.predict_on_batch(np.asarray(features, np.float32)), np.float32)
        if self.output == "head":
            return head
        return np.concatenate([features, l2_normalize(head)], axis=1)

    def _unfitted_backbone(self) -> Encoder:
        if isinstance(self.backbone, Encoder) and is_fitted(self.backbone):
            return self.backbone
        if isinstance(self.backbone, (list, tuple)):
            return Ensemble(encoders=list(self.backbone))
        return member_encoder(self.backbone)

    def _fitted_backbone(self, images: np.ndarray) -> Encoder:
        backbone = self._unfitted_backbone()
        if is_fitted(backbone):
            return backbone
        return backbone.fit(images if backbone.learns_from_images else None)

    def _cache_views(self, images: np.ndarray, augment: Augment | None, folder: Path) -> tuple[np.ndarray, np.ndarray]:
        """Encode every view of every image into memmaps in ``folder``.

        Returns
        -------
        views : float16 memmap (N, views, d)
            The L2-normalised features of each view; view 0 is the image itself.
        originals : float32 memmap (N, d)
            View 0 at full precision, for the images' codes.
        """
        views = originals = None
        progress = Progress(self.views * len(images), "encoding views", unit="view") if self.verbose else None
        for start in range(0, len(images), ENCODE_BATCH):
            original = images[start : start + ENCODE_BATCH]
            batch = to_uint8(original)
            for view in range(self.views):
                pixels = original if view == 0 or augment is None else augment(batch)
                features = l2_normalize(self.backbone_.encode(pixels))
                if views is None:
                    views = _open_memmap(folder / "views.npy", np.float16, (len(images), self.views, features.shape[1]))
                    originals = _open_memmap(folder / "originals.npy", np.float32, (len(images), features.shape[1]))
                views[start : start + len(batch), view] = features
                if view == 0:
                    originals[start : start + len(batch)] = features
                if progress:
                    progress.add(len(batch))
        return views, originals

    def _build_head(self, dimension: int, seed: int | None) -> keras.Model:
        import keras
        from keras import layers
        def initializer(offset: int):
            return keras.initializers.GlorotUniform(seed=None if seed is None else seed + offset)

        inputs = keras.Input((dimension,))
        hidden = layers.Dense(self.width, activation="relu", kernel_initializer=initializer(1))(inputs)
        outputs = layers.Dense(self.code_size, kernel_initializer=initializer(2))(hidden)
        return keras.Model(inputs, outputs, name="projection_head")

    def _train_head(self, views: np.ndarray, rng: np.random.Generator) -> dict[str, list[float]]:
        """Train the head on pairs of cached views (a last batch of one image is left out); return the history."""
        import tensorflow as tf
        head, temperature = self.head_, float(self.temperature)
        optimizer = built_adam(self.learning_rate, head.trainable_variables)

        @tf.function(reduce_retracing=True)
        def train_step(first, second):
            with tf.GradientTape() as tape:
                loss = nt_xent(head(first, training=True), head(second, training=True), temperature)
            optimizer.apply_gradients(zip(tape.gradient(loss, head.trainable_variables), head.trainable_variables))
            return loss

        def step(positions: np.ndarray) -> float:
            return float(train_step(*_two_views(views[positions], rng)))

        batch_size = contrastive_batch_size(len(views), self.batch_size)
        return train_epochs(
            step, np.arange(len(views)), epochs=self.epochs, batch_size=batch_size, rng=rng, min_batch_size=2, verbose=self.verbose
        )


def _open_memmap(path: Path, dtype, shape: tuple[int, ...]) -> np.ndarray:
    return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)


def _two_views(features: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two different cached views of each image: (B, views, d) → two float32 (B, d) arrays."""
    n, views = features.shape[:2]
    first = rng.integers(0, views, n)
    second = (first + rng.integers(1, views, n)) % views
    rows = np.arange(n)
    return features[rows, first].astype(np.float32), features[rows, second].astype(np.float32)

