"""Near-duplicate thresholds calibrated on the collection's own images.

A fixed threshold means different things for different encoders (class scores
of two photos of one kind of thing can score as high as pooled features of a
photo and its JPEG copy). So every fit measures its own: it makes the
five synthetic copies of ``COPY_KINDS`` (JPEG quality 30, half size, 80 %
centre crop, colour shift, blur) of each image of a seeded sample, and compares

- the score of each image and each of its copies (what a near-duplicate
  scores), with
- the score of each image and its nearest other image of the collection that
  scores below the median of all the copies' scores (what the closest
  non-duplicate scores). Other images that score as high as a typical copy are
  near-duplicates already in the collection (re-saved files, frames of one
  scene): counting them as non-duplicates would push the threshold above the
  copies it is there to find. The bound is the collection's, not each image's:
  the copies of a tiny image are poor, and its own bound would pass its
  look-alikes as duplicates.

At a threshold t, the estimated recall is the share of copies scoring at least
t, and the estimated precision is r / (r + f), where r is that recall and f the
share of nearest non-duplicates scoring at least t: the precision of the links
of an image that has a copy. The threshold kept is the lowest from which the
estimated precision stays at or above the target.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import cv2
import numpy as np

from ._checks import check_int
from .augment import jpeg_roundtrip
from .encoders.base import predict_batches
from .images import read_thumbnail, resize, to_rgb_uint8
from .progress import Progress

#: How many images of a collection get the synthetic copies (one of each kind).
CALIBRATION_SAMPLE = 64
#: Copies encoded per call (a step of the progress bar).
COPY_BATCH = 64
#: The target precision of the calibrated threshold.
DEFAULT_PRECISION = 0.98
#: Points of the precision/recall curve kept in a save.
CURVE_POINTS = 51
#: Distance under which two codes are the same image: an identical image is a duplicate, never a "nearest other".
IDENTICAL = 1e-6
#: How far above the highest other score the threshold goes where no lower one reaches the target: scores of one
#: pair differ in their last bits between searches of different batches.
MARGIN = 1e-4
#: Neighbours searched for each sampled image's nearest other one.
OTHER_NEIGHBOURS = 8


def _jpeg30(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return jpeg_roundtrip(image, 30)


def _half_size(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    return cv2.resize(image, (max(1, width // 2), max(1, height // 2)), interpolation=cv2.INTER_AREA)


def _crop80(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    top, left = round(height * 0.1), round(width * 0.1)
    return image[top : top + max(1, round(height * 0.8)), left : left + max(1, round(width * 0.8))]


def _colour_shift(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gains = rng.uniform(0.85, 1.15, size=3)
    offsets = rng.uniform(-15, 15, size=3)
    return np.clip(image * gains + offsets, 0, 255).astype(np.uint8)


def _blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sigma = 0.01 * max(image.shape[:2]) + 0.5
    return cv2.GaussianBlur(image, (0, 0), sigma)


#: The synthetic copies: name → function (RGB uint8 image, generator) → RGB uint8 image.
COPY_KINDS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "jpeg30": _jpeg30,
    "half_size": _half_size,
    "crop80": _crop80,
    "colour_shift": _colour_shift,
    "blur": _blur,
}


def make_copy(image: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Return a synthetic copy of an RGB uint8 image (H, W, 3) made by ``COPY_KINDS[kind]``.

    Raises
    ------
    ValueError
        If ``kind`` is unknown or the image is not RGB uint8.
    """
    if kind not in COPY_KINDS:
        raise ValueError(f"kind must be one of {sorted(COPY_KINDS)}, got {kind!r}")
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {getattr(image, 'shape', type(image).__name__)}")
    return np.ascontiguousarray(COPY_KINDS[kind](image, rng))


class Calibration(NamedTuple):
    """A near-duplicate threshold measured on a collection's own images.

    Attributes
    ----------
    threshold : float
        Lowest score from which the estimated precision stays at or above ``target_precision``.
    target_precision : float
    precision, recall : float
        Estimated at ``threshold`` (see the module's docstring).
    similar : float
        Median score of an image and its nearest other image: matches scoring at least this are as alike
        as neighbours in this collection usually are.
    n_copies : int
        Synthetic copies measured (``len(COPY_KINDS)`` of each sampled image).
    curve : dict of str to list of float
        ``threshold``, ``precision`` and ``recall`` at ``CURVE_POINTS`` thresholds.
    """

    threshold: float
    target_precision: float
    precision: float
    recall: float
    similar: float
    n_copies: int
    curve: dict

    def describe(self, score: float) -> str:
        """``"copy"`` at or above the threshold, ``"similar"`` at or above ``similar``, else ``""``."""
        return str(self.kinds(np.asarray([score]))[0])

    def kinds(self, scores: np.ndarray) -> np.ndarray:
        """``describe`` of every score of an array, at once: an array of str of the same shape."""
        return np.where(scores >= self.threshold, "copy", np.where(scores >= self.similar, "similar", ""))

    def to_dict(self) -> dict:
        """A JSON-ready dict (``from_dict`` reads it back)."""
        return self._asdict()

    @classmethod
    def from_dict(cls, data: dict) -> "Calibration":
        """Rebuild from ``to_dict``'s output; raises ValueError if a field lacks or is not a number."""
        try:
            numbers = {name: float(data[name]) for name in ("threshold", "target_precision", "precision", "recall", "similar")}
            curve = {name: [float(v) for v in data["curve"][name]] for name in ("threshold", "precision", "recall")}
            return cls(**numbers, n_copies=int(data["n_copies"]), curve=curve)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"a calibration lacks or mangles {error}") from error


def check_precision(target_precision) -> float:
    """Return ``target_precision`` as a float if it lies in (0, 1]; raise ValueError otherwise."""
    number = isinstance(target_precision, (int, float, np.integer, np.floating)) and not isinstance(target_precision, bool)
    if not (number and 0 < target_precision <= 1):
        raise ValueError(f"target precision must be a number in (0, 1], got {target_precision!r}")
    return float(target_precision)


def calibrate(copy_scores, other_scores, target_precision: float = DEFAULT_PRECISION) -> Calibration:
    """Choose a near-duplicate threshold from scores of copies and of nearest other images.

    Parameters
    ----------
    copy_scores : array-like of shape (n_copies,)
        Score of each sampled image and each of its synthetic copies.
    other_scores : array-like of shape (n_others,)
        Score of sampled images and their nearest other (non-duplicate) image.
    target_precision : float, default=DEFAULT_PRECISION
        In (0, 1].

    Returns
    -------
    Calibration
        If no score reaches the target, the threshold is ``MARGIN`` above the
        highest other score (no false link in the sample) but at most 1, the
        highest score of every metric.

    Raises
    ------
    ValueError
        If a score array is empty, not 1-d or not finite, or the target is out of range.
    """
    target = check_precision(target_precision)
    copies, others = (np.asarray(scores, np.float64) for scores in (copy_scores, other_scores))
    for name, scores in (("copy_scores", copies), ("other_scores", others)):
        if scores.ndim != 1 or not len(scores) or not np.isfinite(scores).all():
            raise ValueError(f"{name} must be a non-empty 1-d array of finite scores, got shape {scores.shape}")
    above_others = min(others.max() + MARGIN, 1.0)
    candidates = np.unique(np.concatenate([copies, others, [above_others]]))
    precision, recall = _precision_recall(copies, others, candidates)
    failing = np.flatnonzero(precision < target)
    chosen = failing[-1] + 1 if len(failing) else 0
    if chosen == len(candidates):  # only where an other image scores 1 (the metric's highest): no threshold separates
        chosen -= 1
    grid = np.linspace(min(copies.min(), others.min()), max(copies.max(), others.max()), CURVE_POINTS)
    grid_precision, grid_recall = _precision_recall(copies, others, grid)
    curve = {"threshold": grid.tolist(), "precision": grid_precision.tolist(), "recall": grid_recall.tolist()}
    return Calibration(
        float(candidates[chosen]), target, float(precision[chosen]), float(recall[chosen]),
        float(np.median(others)), len(copies), curve,
    )


def _precision_recall(copies: np.ndarray, others: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Estimated precision and recall at each threshold (rates, so the arrays' lengths may differ);
    precision is 1 where nothing passes."""
    true = (copies[None, :] >= thresholds[:, None]).mean(axis=1)
    false = (others[None, :] >= thresholds[:, None]).mean(axis=1)
    passing = true + false
    precision = np.divide(true, passing, out=np.ones(len(thresholds)), where=passing > 0)
    return precision, true


def sample_positions(n_images: int, random_state: int | None, sample: int = CALIBRATION_SAMPLE) -> np.ndarray:
    """Ascending positions of at most ``sample`` of ``n_images`` images, drawn with ``random_state``."""
    check_int("sample", sample)
    if n_images <= sample:
        return np.arange(n_images)
    return np.sort(np.random.default_rng(random_state).choice(n_images, sample, replace=False))


def make_copies(originals: list[np.ndarray], random_state: int | None) -> list[np.ndarray]:
    """The copies of every kind of ``COPY_KINDS`` of each RGB uint8 image, image by image, seeded."""
    rng = np.random.default_rng(random_state)
    return [make_copy(image, kind, rng) for image in originals for kind in COPY_KINDS]


def read_originals(items, positions: np.ndarray, image_size: int) -> list[np.ndarray]:
    """The sampled images as RGB uint8: arrays as they are, files as thumbnails of twice ``image_size``.

    A half-size copy of a thumbnail still holds ``image_size`` pixels a side, and a thumbnail of a large JPEG costs a
    fraction of a full decode.
    """
    if isinstance(items, np.ndarray):
        return [to_rgb_uint8(items[i]) for i in positions]
    return [read_thumbnail(items[i], max(64, 2 * image_size)) for i in positions]


def nearest_other_scores(index, codes: np.ndarray, positions: np.ndarray, below: float) -> np.ndarray:
    """Score of each sampled code and its nearest indexed code that is neither itself, nor identical to it, nor
    scoring ``below`` or higher.

    Sampled codes with no such neighbour among their ``OTHER_NEIGHBOURS`` nearest are left out.
    """
    distances, neighbours = index.kneighbors(codes[positions], min(OTHER_NEIGHBOURS, len(index)))
    scores = index.score(distances)
    other = (neighbours != positions[:, None]) & (distances > IDENTICAL) & (scores < below)
    first = other.argmax(axis=1)
    return scores[np.arange(len(positions)), first][other.any(axis=1)]


def calibrate_collection(encoder, index, codes: np.ndarray, items, kept: list[int], target_precision: float,
                         random_state: int | None, verbose: int = 0) -> Calibration | None:
    """Calibrate the near-duplicate threshold of a fitted collection (the module's docstring says how).

    Parameters
    ----------
    encoder : Encoder
        The fitted encoder that made ``codes``.
    index : NeighborIndex
        The fitted index of ``codes``.
    codes : ndarray of shape (n_images, d)
    items : list of paths or ndarray
        The images the codes were made from; code i is of ``items[kept[i]]``.
    kept : list of int
    target_precision : float
    random_state : int or None
        Seeds the sample and the copies.
    verbose : int, default=0
        0 silent; 1 a progress bar of the copies encoded, on standard error.

    Returns
    -------
    Calibration, or None where no sampled image has a non-duplicate to compare with.
    """
    positions = sample_positions(len(codes), random_state)
    originals = read_originals(items, np.asarray(kept)[positions], encoder.image_size)
    copies = make_copies(originals, random_state)
    progress = Progress(len(copies), "calibrating", unit="copy") if verbose else None
    resized = np.stack([resize(copy, encoder.image_size) for copy in copies])
    copy_codes = predict_batches(encoder.encode, resized, COPY_BATCH, progress=progress)
    copy_scores = index.score(index.distance(copy_codes, np.repeat(codes[positions], len(COPY_KINDS), axis=0)))
    others = nearest_other_scores(index, codes, positions, below=float(np.median(copy_scores)))
    if not len(others):
        return None
    return calibrate(copy_scores, others, target_precision)
