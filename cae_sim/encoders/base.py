"""The interface every encoder implements, and the machinery they share: parameter checks, the input check,
batched inference and the training loop."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from .._checks import ParameterCheck, validate_params
from ..augment import make_augment
from ..progress import Progress

if TYPE_CHECKING:
    import keras


class Encoder(BaseEstimator, ABC):
    """Turns batches of RGB images into codes: fixed-length float32 vectors.

    Subclasses follow scikit-learn's conventions: ``__init__`` stores keyword
    parameters only, ``fit`` returns ``self`` and learned state ends in ``_``.
    Images reach an encoder already read and resized to its ``image_size``
    attribute (a parameter or a fixed property), as uint8 (0–255) or float
    (0–1) arrays of shape (N, image_size, image_size, 3).

    Each subclass declares the check of every ``__init__`` parameter in
    ``_parameter_constraints``; ``fit`` starts with ``_validate_params()``.
    """

    #: The name the encoder is registered under (``Pipeline(encoder=name)``).
    name: ClassVar[str]
    #: Side of the square images the encoder takes.
    image_size: int
    #: Whether ``fit`` learns from the images; if not, ``fit(None)`` is called and images are only encoded.
    learns_from_images: bool = True
    #: Whether ``clustering="auto"`` embeds the codes with UMAP before grouping them (the rule: ``defaults.py``).
    #: True for the autoencoder, whose codes K-Means groups poorly; pretrained features group better with K-Means.
    cluster_on_manifold: bool = False
    #: The check of each ``__init__`` parameter, by name (``cae_sim._checks``): called as ``check(name, value)``,
    #: it raises ValueError naming both unless the value is allowed.
    _parameter_constraints: ClassVar[dict[str, ParameterCheck]] = {}

    @abstractmethod
    def fit(self, images: np.ndarray) -> "Encoder":
        """Learn from images (N, image_size, image_size, 3); return self."""

    @abstractmethod
    def encode(self, images: np.ndarray) -> np.ndarray:
        """Return the (N, d) float32 codes of images (N, image_size, image_size, 3)."""

    def fit_encode(self, images: np.ndarray) -> np.ndarray:
        """Fit on images and return their codes, as ``fit(images).encode(images)`` does.

        Encoders that compute something per image while fitting (a frozen
        backbone's features) override it to reuse that instead of running
        over the images a second time.

        Parameters
        ----------
        images : ndarray of shape (N, image_size, image_size, 3)
            uint8 or float in [0, 1].

        Returns
        -------
        ndarray of shape (N, d), float32
        """
        return self.fit(images).encode(images)

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write the learned state into an existing, empty directory (no pickle)."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path, params: dict) -> "Encoder":
        """Rebuild a fitted encoder from ``save``'s directory and its parameters."""

    def _validate_params(self) -> None:
        """Check every parameter against ``_parameter_constraints``.

        Raises
        ------
        ValueError
            Naming the first bad parameter and its value.
        """
        validate_params(self._parameter_constraints, self.get_params(deep=False))

    @classmethod
    def _from_params(cls, params: dict) -> "Encoder":
        """An unfitted encoder of ``params``, checked as ``fit`` checks them: where ``load`` starts."""
        encoder = cls(**params)
        encoder._validate_params()
        return encoder


# --------------------------------------------------------------------------- parameter checks of several encoders


def check_augment(name: str, value) -> None:
    """Raise ValueError unless ``value`` is an augmentation policy (``make_augment``'s) with valid settings."""
    policy = make_augment(value)  # its messages name the augment parameter
    if policy is not None:
        try:
            policy._check_params()
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None


# --------------------------------------------------------------------------- inference


def check_images(images, size: int, minimum: int = 1) -> None:
    """Raise ValueError unless ``images`` is an array of at least ``minimum`` images (N, size, size, 3), uint8 or float.

    The message names the shape (or type, or dtype) that was given.
    """
    ok = isinstance(images, np.ndarray) and images.ndim == 4 and images.shape[1:] == (size, size, 3)
    if not ok or len(images) < minimum:
        shape = getattr(images, "shape", type(images).__name__)
        count = f"at least {minimum} image{'s' if minimum > 1 else ''}" if minimum else "images"
        raise ValueError(f"expected {count} of shape (N, {size}, {size}, 3), got {shape}")
    if images.dtype != np.uint8 and images.dtype.kind != "f":
        raise ValueError(f"expected uint8 or float images, got dtype {images.dtype}")


def predict_batches(
    predict: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    batch_size: int,
    *,
    positions: np.ndarray | None = None,
    dtype=np.float32,
    progress: Progress | None = None,
) -> np.ndarray:
    """Apply ``predict`` to consecutive batches of ``images`` and stack its outputs.

    Parameters
    ----------
    predict : callable
        Maps a batch (n, ...) to an array (n, ...): a Keras model's ``predict_on_batch`` and the input scaling.
    images : ndarray of shape (N, ...)
        Images or other per-image arrays (feature maps); a numpy memmap is read one batch at a time.
    batch_size : int
        Rows per call of ``predict``.
    positions : ndarray of int or None, default=None
        Only these rows of ``images``, in this order (sorted positions read a memmap front to back).
    dtype : numpy dtype, default=float32
        Type of the stacked outputs.
    progress : Progress or None, default=None
        Advanced by the rows of each batch.

    Returns
    -------
    ndarray of shape (n, ...)
        One output row per row given (all of ``images``, or ``positions``).
    """
    count = len(images) if positions is None else len(positions)
    outputs = []
    for start in range(0, count, batch_size):
        stop = min(start + batch_size, count)
        batch = images[start:stop] if positions is None else images[positions[start:stop]]
        outputs.append(np.asarray(predict(batch), dtype))
        if progress is not None:
            progress.add(stop - start)
    return np.concatenate(outputs)


def encode_batches(encoder: Encoder, batches) -> tuple[np.ndarray | None, list[int], list[tuple[str, str]]]:
    """Encode the readable images of ``ImageBatch``es as they come.

    Returns
    -------
    codes : ndarray of shape (n_read, d), float32, or None if none could be read
    kept : list of int
        Each code's position in the source.
    skipped : list of (str, str)
        The unreadable files, with the reason.
    """
    codes, kept, skipped = [], [], []
    for batch in batches:
        if len(batch.positions):
            codes.append(np.asarray(encoder.encode(batch.pixels), np.float32))
        kept.extend(batch.positions.tolist())
        skipped.extend(batch.skipped)
    return (np.concatenate(codes) if codes else None), kept, skipped


# --------------------------------------------------------------------------- training


def built_adam(learning_rate: float, variables: list) -> keras.optimizers.Adam:
    """An Adam optimizer whose slots for ``variables`` are made now.

    Made by the first training step instead, inside its ``tf.function``, they make TensorFlow trace that step twice:
    a second more for every fit of a small model.

    Parameters
    ----------
    learning_rate : float
    variables : list of keras.Variable
        The variables it will train: a model's ``trainable_variables``.

    Returns
    -------
    keras.optimizers.Adam
    """
    import keras

    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build(variables)
    return optimizer


class EarlyStopping:
    """Stop training after ``patience`` epochs without a lower loss, and put back the best epoch's weights.

    Parameters
    ----------
    model : keras.Model
        The model trained (anything with ``get_weights`` and ``set_weights``).
    patience : int
        Epochs without improvement before training stops.
    """

    def __init__(self, model, patience: int):
        self.model, self.patience = model, patience
        self.best, self.best_weights, self.waited = np.inf, None, 0

    def should_stop(self, loss: float) -> bool:
        """Record an epoch's loss (keeping the weights if it is the lowest yet); True when patience has run out."""
        if loss < self.best:
            self.best, self.best_weights, self.waited = loss, self.model.get_weights(), 0
            return False
        self.waited += 1
        return self.waited >= self.patience

    def restore(self) -> None:
        """Give the model the weights of its best epoch (kept as they are if every loss was NaN)."""
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def train_epochs(
    step: Callable[[np.ndarray], float],
    positions: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator,
    validation_loss: Callable[[], float] | None = None,
    stopping: EarlyStopping | None = None,
    min_batch_size: int = 1,
    verbose: int = 0,
) -> dict[str, list[float]]:
    """The training loop of every trainable encoder: shuffled batches, epoch after epoch.

    A plain loop over the encoder's own training step: Keras' data adapters
    (``PyDataset``, generators) touched fresh memory on every batch.

    Parameters
    ----------
    step : callable
        Trains on one batch, given as sorted positions; returns the batch's mean loss.
    positions : ndarray of int
        The training items' positions; reshuffled with ``rng`` every epoch.
    epochs : int
        Most epochs.
    batch_size : int
        Positions per step.
    rng : numpy Generator
        The shuffling's generator.
    validation_loss : callable or None, default=None
        Returns the held-out loss after each epoch; early stopping then watches it instead of the training loss.
    stopping : EarlyStopping or None, default=None
        Stops training when the watched loss stops falling, and restores the best weights; None trains every epoch.
    min_batch_size : int, default=1
        A smaller last batch is left out of the epoch.
    verbose : int, default=0
        0 silent; 1 (or more) a progress bar of the batches on standard error (of the epochs, where an epoch is one
        batch).

    Returns
    -------
    dict of str to list of float
        ``"loss"``: each epoch's training loss (the batches' losses weighted by their sizes); with
        ``validation_loss``, ``"val_loss"`` too.
    """
    history = {"loss": []} | ({"val_loss": []} if validation_loss else {})
    watched = history["val_loss" if validation_loss else "loss"]
    sizes = _batch_sizes(len(positions), batch_size, min_batch_size)
    by_epoch = len(sizes) == 1  # one batch an epoch: the bar counts epochs, not "epoch 7/9" beside "7/9" batches
    title, unit = ("training", "epoch") if by_epoch else (f"epoch 1/{epochs}", "batch")
    progress = Progress(epochs * len(sizes), title, unit=unit) if verbose else None
    for epoch in range(epochs):
        order = rng.permutation(positions)
        losses = []
        if progress and not by_epoch:
            progress.title = f"epoch {epoch + 1}/{epochs}"
        for start, size in zip(range(0, len(order), batch_size), sizes):
            losses.append(float(step(np.sort(order[start : start + size]))))
            if progress:
                progress.add(1, loss=losses[-1])
        history["loss"].append(float(np.average(losses, weights=sizes)))
        if validation_loss:
            history["val_loss"].append(float(validation_loss()))
            if progress:
                progress.update(progress.done, val_loss=history["val_loss"][-1])
        if stopping and stopping.should_stop(watched[-1]):
            break
    if stopping:
        stopping.restore()
    if progress:
        progress.close()
    return history


def _batch_sizes(count: int, batch_size: int, min_batch_size: int) -> list[int]:
    """Sizes of the batches an epoch over ``count`` items makes: full ones, then the rest if not too small."""
    sizes = [batch_size] * (count // batch_size)
    rest = count % batch_size
    return sizes + ([rest] if rest and rest >= min_batch_size else [])


# --------------------------------------------------------------------------- pixel types


def to_unit_float(images: np.ndarray) -> np.ndarray:
    """Return images as float32 in [0, 1]: uint8 is divided by 255, floats are kept."""
    if images.dtype == np.uint8:
        return images.astype(np.float32) / np.float32(255)
    return np.asarray(images, dtype=np.float32)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Return images as uint8 (0–255): uint8 is kept, floats in [0, 1] are scaled and rounded."""
    if images.dtype == np.uint8:
        return np.asarray(images)
    return np.clip(np.rint(np.asarray(images, np.float32) * 255), 0, 255).astype(np.uint8)
