"""A convolutional autoencoder (Keras) whose bottleneck is the image code."""

from __future__ import annotations

import itertools
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
from keras import layers
from sklearn.utils.validation import check_is_fitted

from .._checks import check_fraction, check_int, check_positive, check_random_state
from ..augment import make_augment
from ..progress import Progress
from .base import Encoder, to_uint8, to_unit_float

MODEL_FILE = "autoencoder.keras"
HISTORY_FILE = "history.json"
CODE_LAYER = "code"
DECODER_INPUT_LAYER = "decode"
#: Fewer held-out images than this give too noisy a loss to stop on; the training loss is watched instead.
MIN_VALIDATION_IMAGES = 32


#: Most pixels (per channel) in one training batch: 256 images of 32 × 32.
MAX_BATCH_PIXELS = 256 * 32 * 32


def seeded_initializers(seed: int | None) -> Callable[[], dict]:
    """Layer keywords, one call per layer: a Glorot-uniform kernel initializer seeded ``seed``, ``seed + 1``, ...

    Each layer is seeded on its own, so no process-wide seed is set; with ``seed=None`` they are unseeded.
    """
    seeds = itertools.count(seed or 0)

    def init() -> dict:
        return {"kernel_initializer": keras.initializers.GlorotUniform(seed=None if seed is None else next(seeds))}

    return init


def auto_batch_size(n_images: int, image_size: int) -> int:
    """About 64 training steps per epoch, between 16 and 256 images a batch.

    Larger images get smaller batches, so a training step needs the same memory
    at every size (at 64 px at most 64 images: fitting 20,000 images then peaks
    at 1.38 GB instead of 1.57 GB, experiments/bench_memory.py).
    """
    most = max(16, MAX_BATCH_PIXELS // (image_size * image_size))
    return int(min(256, most, max(16, n_images // 64)))


class ConvAutoencoder(Encoder):
    """Convolutional autoencoder: strided convolutions → dense code → mirrored decoder.

    Parameters
    ----------
    image_size : int, default=64
        Side of the square input images; a multiple of ``2 ** len(filters)``.
    code_size : int, default=32
        Length of the code (the bottleneck).
    filters : tuple of int, default=(32, 64, 128)
        Filters of each stride-2 convolution of the encoder (the decoder mirrors them).
    epochs : int, default=25
        Most training epochs; early stopping may end sooner.
    batch_size : int or None, default=None
        Images per training step; None: about 64 steps per epoch, between 16
        and 256 images a batch, and at most 256 × (32 / image_size)² so that a
        step needs the same memory at every size (large batches run faster per image).
    learning_rate : float, default=1e-3
        Adam's learning rate.
    validation_split : float, default=0.1
        Fraction of images held out to stop early on their reconstruction loss.
        With 0, or when that is fewer than 32 images, all images train and
        the training loss is watched instead.
    patience : int, default=5
        Epochs without improvement before training stops (best weights are kept).
    augment : str, dict, Augment or None, default=None
        Train to reconstruct each clean image from a randomly augmented copy
        (a denoising autoencoder): a preset name (``"simclr"``, ``"degrade"``),
        ``Augment`` keywords, or a policy. None trains on the images as they are.
    random_state : int or None, default=None
        Seed of the weights, the shuffling, the split and the augmentation
        (no process-wide seed is set).
    verbose : int, default=0
        0 silent, 1 a progress bar per epoch, 2 one line per epoch (both on
        standard error).

    Attributes
    ----------
    autoencoder_ : keras.Model
        The whole model, image → reconstruction.
    encoder_ : keras.Model
        Its first half, image → code.
    history_ : dict of str to list of float
        Loss (and validation loss) per epoch.
    """

    name = "cae"
    cluster_on_manifold = True

    def __init__(
        self,
        *,
        image_size: int = 64,
        code_size: int = 32,
        filters: tuple[int, ...] = (32, 64, 128),
        epochs: int = 25,
        batch_size: int | None = None,
        learning_rate: float = 1e-3,
        validation_split: float = 0.1,
        patience: int = 5,
        augment=None,
        random_state: int | None = None,
        verbose: int = 0,
    ):
        self.image_size = image_size
        self.code_size = code_size
        self.filters = filters
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_split = validation_split
        self.patience = patience
        self.augment = augment
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, images: np.ndarray) -> "ConvAutoencoder":
        """Train on images.

        Parameters
        ----------
        images : ndarray of shape (N, image_size, image_size, 3)
            uint8 or float in [0, 1]; a numpy memmap is read batch by batch.

        Returns
        -------
        self
        """
        self._check_params()
        self._check_images(images)
        seed = check_random_state(self.random_state)
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(images))
        n_validation = int(len(images) * self.validation_split)
        if n_validation < MIN_VALIDATION_IMAGES:
            n_validation = 0
        train, validation = order[n_validation:], order[:n_validation]

        self.autoencoder_ = self._build(seed)
        self.encoder_ = _encoder_half(self.autoencoder_)
        self.autoencoder_.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss="mse")
        augment = make_augment(self.augment, None if seed is None else int(rng.integers(2**31)))
        self.history_ = self._train(images, train, validation, rng, augment)
        self._center_codes(images, train)
        return self

    def _train(self, images, train, validation, rng, augment) -> dict[str, list[float]]:
        """Train epoch by epoch, stop after ``patience`` epochs without improvement, keep the best weights.

        A plain loop over ``train_on_batch``: Keras' data adapters (``PyDataset``,
        generators) touched fresh memory on every batch, doubling the fit time
        in page faults.
        """
        model, batch_size = self.autoencoder_, self.batch_size or auto_batch_size(len(images), self.image_size)
        history = {"loss": []} | ({"val_loss": []} if len(validation) else {})
        monitor = "val_loss" if len(validation) else "loss"
        steps = math.ceil(len(train) / batch_size)
        best, best_weights, waited = np.inf, None, 0
        for epoch in range(self.epochs):
            progress = Progress(steps, f"epoch {epoch + 1}/{self.epochs}", unit="batch") if self.verbose == 1 else None
            train = rng.permutation(train)
            losses, sizes = [], []
            for noisy, clean in _batches(images, train, batch_size, augment):
                losses.append(float(model.train_on_batch(noisy, clean)))
                sizes.append(len(clean))
                if progress:
                    progress.add(1, loss=losses[-1])
            history["loss"].append(float(np.average(losses, weights=sizes)))
            if len(validation):
                losses, sizes = zip(*[(float(model.test_on_batch(x, y)), len(y)) for x, y in _batches(images, validation, 256)])
                history["val_loss"].append(float(np.average(losses, weights=sizes)))
            if self.verbose == 2:
                losses_now = ", ".join(f"{name} {values[-1]:.5f}" for name, values in history.items())
                print(f"epoch {epoch + 1}/{self.epochs}: {losses_now}", file=sys.stderr, flush=True)
            if history[monitor][-1] < best:
                best, best_weights, waited = history[monitor][-1], model.get_weights(), 0
            else:
                waited += 1
                if waited >= self.patience:
                    break
        if best_weights is not None:  # None only if every epoch's loss was NaN: keep the last weights
            model.set_weights(best_weights)
        return history

    def _center_codes(self, images: np.ndarray, train: np.ndarray) -> None:
        """Shift the code layer's bias so training codes average zero, and undo it in the decoder.

        Codes of a linear bottleneck share a large common offset, which makes every
        cosine similarity close to 1; centred codes compare by what sets images apart.
        Reconstructions are unchanged.
        """
        mean = np.zeros(self.code_size, np.float32)
        for start in range(0, len(train), 1024):
            picked = np.sort(train[start : start + 1024])
            mean += self._predict(self.encoder_, images[picked]).sum(axis=0)
        self._shift_codes(mean / len(train))

    def _shift_codes(self, offset: np.ndarray) -> None:
        """Subtract ``offset`` from every code, leaving the reconstructions as they were."""
        code_layer = self.autoencoder_.get_layer(CODE_LAYER)
        decoder_layer = self.autoencoder_.get_layer(DECODER_INPUT_LAYER)
        kernel, bias = code_layer.get_weights()
        code_layer.set_weights([kernel, bias - offset])
        kernel, bias = decoder_layer.get_weights()
        decoder_layer.set_weights([kernel, bias + offset @ kernel])

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Return the codes of images.

        Parameters
        ----------
        images : ndarray of shape (N, image_size, image_size, 3)
            uint8 or float in [0, 1].

        Returns
        -------
        ndarray of shape (N, code_size), float32
        """
        return self._predict(self._fitted("encoder_"), images)

    def reconstruct(self, images: np.ndarray) -> np.ndarray:
        """Return the autoencoder's reconstruction of images, float32 in [0, 1], same shape."""
        return self._predict(self._fitted("autoencoder_"), images)

    def save(self, directory: Path) -> None:
        """Write the model (``.keras``) and the training history (JSON) into ``directory``."""
        self._fitted("autoencoder_").save(Path(directory) / MODEL_FILE)
        (Path(directory) / HISTORY_FILE).write_text(json.dumps(self.history_))

    @classmethod
    def load(cls, directory: Path, params: dict) -> "ConvAutoencoder":
        """Rebuild a fitted autoencoder from ``save``'s directory."""
        encoder = cls(**params)
        encoder.autoencoder_ = keras.models.load_model(Path(directory) / MODEL_FILE, compile=False, safe_mode=True)
        encoder.encoder_ = _encoder_half(encoder.autoencoder_)
        encoder.history_ = json.loads((Path(directory) / HISTORY_FILE).read_text())
        return encoder

    # ------------------------------------------------------------------ helpers

    def _build(self, seed: int | None = None) -> keras.Model:
        init = seeded_initializers(seed)
        inputs = keras.Input((self.image_size, self.image_size, 3))
        x = inputs
        for n_filters in self.filters:
            x = layers.Conv2D(n_filters, 3, strides=2, padding="same", activation="relu", **init())(x)
        grid_shape = tuple(x.shape[1:])
        code = layers.Dense(self.code_size, name=CODE_LAYER, **init())(layers.Flatten()(x))
        y = layers.Dense(math.prod(grid_shape), activation="relu", name=DECODER_INPUT_LAYER, **init())(code)
        y = layers.Reshape(grid_shape)(y)
        for n_filters in reversed(self.filters[:-1]):
            y = layers.Conv2DTranspose(n_filters, 3, strides=2, padding="same", activation="relu", **init())(y)
        outputs = layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="sigmoid", **init())(y)
        return keras.Model(inputs, outputs, name="conv_autoencoder")

    def _check_params(self) -> None:
        check_int("code_size", self.code_size)
        check_int("epochs", self.epochs)
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size)
        check_int("patience", self.patience, minimum=0)
        check_random_state(self.random_state)
        check_fraction("validation_split", self.validation_split)
        make_augment(self.augment)  # raises on a bad policy
        if not self.filters or any(isinstance(f, bool) or not isinstance(f, int) or f < 1 for f in self.filters):
            raise ValueError(f"filters must be a non-empty tuple of positive ints, got {self.filters!r}")
        stride = 2 ** len(self.filters)
        if check_int("image_size", self.image_size) % stride:
            raise ValueError(f"image_size must be a multiple of {stride} (the encoder halves it {len(self.filters)} times), got {self.image_size}")
        check_positive("learning_rate", self.learning_rate)

    def _check_images(self, images: np.ndarray) -> None:
        expected = (self.image_size, self.image_size, 3)
        if not isinstance(images, np.ndarray) or images.ndim != 4 or images.shape[1:] != expected or not len(images):
            shape = getattr(images, "shape", type(images).__name__)
            raise ValueError(f"expected images of shape (N, {', '.join(map(str, expected))}) with N >= 1, got {shape}")

    def _fitted(self, attribute: str):
        check_is_fitted(self, attribute)
        return getattr(self, attribute)

    def _predict(self, model, images: np.ndarray) -> np.ndarray:
        self._check_images(images)
        outputs = [model.predict_on_batch(to_unit_float(images[i : i + 256])) for i in range(0, len(images), 256)]
        return np.concatenate([np.asarray(out, dtype=np.float32) for out in outputs])


def _encoder_half(autoencoder: keras.Model) -> keras.Model:
    return keras.Model(autoencoder.inputs, autoencoder.get_layer(CODE_LAYER).output, name="encoder")


def _batches(images: np.ndarray, indices: np.ndarray, batch_size: int, augment=None):
    """Yield (input, clean) float batches of the images at ``indices``, in that order.

    The input is an augmented copy of the clean images when given a policy.
    """
    for start in range(0, len(indices), batch_size):
        # sorted indices read a memmap front to back
        clean = images[np.sort(indices[start : start + batch_size])]
        noisy = clean if augment is None else augment(to_uint8(clean))
        yield to_unit_float(noisy), to_unit_float(clean)
