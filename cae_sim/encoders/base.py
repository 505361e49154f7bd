"""The interface every encoder implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator


class Encoder(BaseEstimator, ABC):
    """Turns batches of RGB images into codes: fixed-length float32 vectors.

    Subclasses follow scikit-learn's conventions: ``__init__`` stores keyword
    parameters only, ``fit`` returns ``self`` and learned state ends in ``_``.
    Images reach an encoder already read and resized to its ``image_size``
    attribute (a parameter or a fixed property), as uint8 (0–255) or float
    (0–1) arrays of shape (N, image_size, image_size, 3).
    """

    #: The name the encoder is registered under (``Pipeline(encoder=name)``).
    name: ClassVar[str]
    #: Side of the square images the encoder takes.
    image_size: int
    #: Whether ``fit`` learns from the images; if not, ``fit(None)`` is called and images are only encoded.
    learns_from_images: bool = True
    #: Whether ``clustering="auto"`` embeds the codes with UMAP before grouping them (from 1,000 images on).
    #: True for the autoencoder, whose codes K-Means groups poorly; pretrained features group better with K-Means.
    cluster_on_manifold: bool = False

    @abstractmethod
    def fit(self, images: np.ndarray) -> "Encoder":
        """Learn from images (N, image_size, image_size, 3); return self."""

    @abstractmethod
    def encode(self, images: np.ndarray) -> np.ndarray:
        """Return the (N, d) float32 codes of images (N, image_size, image_size, 3)."""

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write the learned state into an existing, empty directory (no pickle)."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path, params: dict) -> "Encoder":
        """Rebuild a fitted encoder from ``save``'s directory and its parameters."""


def check_images(images, size: int, minimum: int = 1) -> None:
    """Raise ValueError unless ``images`` is an array of at least ``minimum`` images (N, size, size, 3)."""
    ok = isinstance(images, np.ndarray) and images.ndim == 4 and images.shape[1:] == (size, size, 3)
    if not ok or len(images) < minimum:
        shape = getattr(images, "shape", type(images).__name__)
        raise ValueError(f"expected at least {minimum} images of shape (N, {size}, {size}, 3), got {shape}")


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
