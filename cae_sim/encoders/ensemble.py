"""Several encoders side by side: their L2-normalised codes, weighted and concatenated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._checks import none_or, satisfies
from ..images import resize
from ..codes import l2_normalize
from .._registry import ENCODERS
from .base import Encoder
from .members import load_member, member_encoder, save_member


@ENCODERS.register("ensemble")
class Ensemble(Encoder):
    """Concatenate the L2-normalised codes of several encoders.

    Parameters
    ----------
    encoders : list of str or Encoder
        Members: pretrained model names (``"efficientnet_lite0"``, ...) or
        Encoder objects (cloned, then fitted). At least two.
    weights : list of float or None, default=None
        Each member's weight (its normalised code is multiplied by it); equal
        weights when None. The width of the code is the sum of the members'.

    Attributes
    ----------
    encoders_ : list of Encoder
        The fitted members.
    """

    name = "ensemble"
    _parameter_constraints = {
        "encoders": satisfies(
            lambda value: isinstance(value, (list, tuple)) and len(value) >= 2,
            "a list of at least two encoders (pretrained model names or Encoder objects)",
        ),
        "weights": none_or(satisfies(lambda value: isinstance(value, (list, tuple, np.ndarray)), "a list of numbers, one per encoder")),
    }

    def __init__(self, *, encoders=None, weights=None):
        self.encoders = encoders
        self.weights = weights

    @property
    def learns_from_images(self) -> bool:
        """True if any member learns from the images."""
        return any(member.learns_from_images for member in self._members())

    @property
    def image_size(self) -> int:
        """The largest member's input side; smaller members get the images resized."""
        return max(member.image_size for member in self._members())

    def fit(self, images: np.ndarray) -> "Ensemble":
        """Fit every member on the images (resized to its own size); return self."""
        members = self._checked_members()
        self.encoders_ = [member.fit(_resized(images, member.image_size)) for member in members]
        return self

    def fit_encode(self, images: np.ndarray) -> np.ndarray:
        """Fit every member and return the codes of ``images``, each member encoding them once."""
        members = self._checked_members()
        parts = [member.fit_encode(_resized(images, member.image_size)) for member in members]
        self.encoders_ = members
        return self._combine(parts)

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Return the (N, sum of members' widths) float32 codes."""
        check_is_fitted(self, "encoders_")
        return self._combine([member.encode(_resized(images, member.image_size)) for member in self.encoders_])

    def _checked_members(self) -> list[Encoder]:
        self._validate_params()
        members = self._members()
        self._check_weights(len(members))
        return members

    def _combine(self, parts: list[np.ndarray]) -> np.ndarray:
        """The members' codes, each unit-normalised and weighted, side by side."""
        weights = self.weights if self.weights is not None else [1.0] * len(parts)
        return np.concatenate([l2_normalize(part) * np.float32(weight) for part, weight in zip(parts, weights)], axis=1).astype(np.float32)

    def save(self, directory: Path) -> None:
        """Save each member in a sub-directory ``member_0``, ``member_1``, ..."""
        for i, member in enumerate(self.encoders_):
            save_member(member, Path(directory) / f"member_{i}")

    @classmethod
    def load(cls, directory: Path, params: dict) -> "Ensemble":
        """Rebuild a fitted ensemble from ``save``'s directory."""
        ensemble = cls(**params)
        count = len(list(Path(directory).glob("member_*")))
        ensemble.encoders_ = [load_member(Path(directory) / f"member_{i}") for i in range(count)]
        return ensemble

    def _members(self) -> list[Encoder]:
        if self.encoders is None or isinstance(self.encoders, str) or len(self.encoders) < 2:
            raise ValueError(f"an ensemble needs a list of at least two encoders, got {self.encoders!r}")
        return [member_encoder(m) for m in self.encoders]

    def _check_weights(self, n: int) -> None:
        if self.weights is None:
            return
        weights = np.asarray(self.weights, dtype=float)
        if weights.shape != (n,) or not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() == 0:
            raise ValueError(f"weights must be {n} non-negative numbers, not all zero; got {self.weights!r}")


def _resized(images: np.ndarray | None, size: int) -> np.ndarray | None:
    if images is None or images.shape[1:3] == (size, size):
        return images
    return np.stack([resize(image, size) for image in images])
