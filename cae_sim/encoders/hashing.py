"""Perceptual hashes: binary fingerprints of an image's coarse structure, robust to resizing and recompression.

A hash of ``hash_size``² bits is returned as a float32 code of -1.0 (bit clear)
and +1.0 (bit set). For two such codes the cosine similarity is
1 − 2 · hamming / n_bits, so the default cosine metric ranks neighbours exactly
as the Hamming distance does; ``metric="hamming"`` counts the differing bits.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path

import cv2
import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._checks import at_least, check_int
from .._registry import ENCODERS
from .base import Encoder, check_images, to_uint8

#: Side of the RGB images the hashes take (larger where a hash needs a finer grid).
IMAGE_SIZE = 64
#: The largest hash side: 4,096 bits a code, which keeps what a save can make a query allocate small.
MAX_HASH_SIZE = 64


class PerceptualHash(Encoder):
    """Base of the hash encoders: nothing to learn, gray ``image_size`` images → ±1 codes.

    A subclass names the grid the gray image is shrunk to (``_grid``) and turns
    the shrunk images into bits (``_bits``).

    Parameters
    ----------
    hash_size : int, default=8
        Side of the square of bits, at most ``MAX_HASH_SIZE``: codes have ``hash_size ** 2`` values.

    Attributes
    ----------
    n_bits_ : int
        Width of the codes, ``hash_size ** 2``.
    """

    learns_from_images = False
    _parameter_constraints = {"hash_size": at_least(2, MAX_HASH_SIZE)}

    def __init__(self, *, hash_size: int = 8):
        self.hash_size = hash_size

    @property
    def image_size(self) -> int:
        """Side of the RGB images ``encode`` takes: 64, or the hash's grid where that is larger."""
        return max(IMAGE_SIZE, *self._grid(self._checked_hash_size()))

    def fit(self, images=None) -> "PerceptualHash":
        """Check the parameters (nothing is learned from ``images``); return self.

        Raises
        ------
        ValueError
            If ``hash_size`` is not an int >= 2.
        """
        self._validate_params()
        self.n_bits_ = self.hash_size**2
        return self

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Hash images.

        Parameters
        ----------
        images : ndarray of shape (N, image_size, image_size, 3)
            RGB, uint8 (0–255) or float (0–1).

        Returns
        -------
        ndarray of shape (N, hash_size ** 2), float32
            +1.0 where a bit is set, -1.0 where it is clear.

        Raises
        ------
        ValueError
            If the images are not of that shape, or neither uint8 nor float.
        sklearn.exceptions.NotFittedError
            If ``fit`` was not called.
        """
        check_is_fitted(self, "n_bits_")
        gray = _gray_uint8(images, self.image_size)
        width, height = self._grid(self.hash_size)
        shrunk = np.array([cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA) for image in gray])
        bits = self._bits(shrunk.reshape(len(gray), height, width)).reshape(len(gray), self.n_bits_)
        return np.where(bits, np.float32(1), np.float32(-1))

    def save(self, directory: Path) -> None:
        """Nothing to write: the parameters rebuild the encoder."""

    @classmethod
    def load(cls, directory: Path, params: dict) -> "PerceptualHash":
        """Rebuild the encoder from its parameters."""
        return cls(**params).fit()

    def _checked_hash_size(self) -> int:
        return check_int("hash_size", self.hash_size, minimum=2, maximum=MAX_HASH_SIZE)

    @abstractmethod
    def _grid(self, hash_size: int) -> tuple[int, int]:
        """(width, height) the gray image is shrunk to."""

    @abstractmethod
    def _bits(self, gray: np.ndarray) -> np.ndarray:
        """Boolean (N, hash_size, hash_size) bits of shrunk gray images (N, height, width), uint8."""


@ENCODERS.register("phash")
class PHash(PerceptualHash):
    """The DCT perceptual hash (pHash).

    The gray image is shrunk to 4·hash_size squared (32×32 by default) by area
    averaging; of its 2-D DCT (orthonormal DCT-II, ``cv2.dct``) the top-left
    hash_size × hash_size block of lowest frequencies is kept, and a bit is set
    where a coefficient exceeds the median of the block without its DC term
    (as imagededup does; imagehash's median includes the DC term).

    Parameters
    ----------
    hash_size : int, default=8
        Side of the square of bits, at most ``MAX_HASH_SIZE``: codes have ``hash_size ** 2`` values.
    """

    name = "phash"

    def _grid(self, hash_size: int) -> tuple[int, int]:
        return 4 * hash_size, 4 * hash_size

    def _bits(self, gray: np.ndarray) -> np.ndarray:
        size = self.hash_size
        blocks = np.array([cv2.dct(image.astype(np.float32))[:size, :size] for image in gray])
        blocks = blocks.reshape(len(gray), size * size)
        medians = np.median(blocks[:, 1:], axis=1, keepdims=True)
        return (blocks > medians).reshape(len(gray), size, size)


@ENCODERS.register("dhash")
class DHash(PerceptualHash):
    """The difference hash (dHash).

    The gray image is shrunk to (hash_size + 1) × hash_size (width × height)
    by area averaging; a bit is set where a pixel is brighter than its right
    neighbour.

    Parameters
    ----------
    hash_size : int, default=8
        Side of the square of bits, at most ``MAX_HASH_SIZE``: codes have ``hash_size ** 2`` values.
    """

    name = "dhash"

    def _grid(self, hash_size: int) -> tuple[int, int]:
        return hash_size + 1, hash_size

    def _bits(self, gray: np.ndarray) -> np.ndarray:
        return gray[:, :, :-1] > gray[:, :, 1:]


def _gray_uint8(images: np.ndarray, size: int) -> np.ndarray:
    """Check RGB images (N, size, size, 3), uint8 or float in [0, 1]; return them as uint8 gray (N, size, size)."""
    check_images(images, size, minimum=0)
    images = to_uint8(images)
    if len(images) == 0:
        return np.zeros((0, size, size), np.uint8)
    # the conversion is per pixel, so the whole batch goes through OpenCV as one tall image
    gray = cv2.cvtColor(np.ascontiguousarray(images).reshape(-1, size, 3), cv2.COLOR_RGB2GRAY)
    return gray.reshape(len(images), size, size)
