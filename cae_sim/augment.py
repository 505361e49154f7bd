"""Random image transforms for training: crops, flips, affine warps, colour jitter, blur, noise, JPEG.

An ``Augment`` turns a batch of uint8 RGB images into randomly changed copies of
the same shape and dtype. It is seeded by ``random_state`` and keeps drawing
from its own generator, so two policies built with the same seed give the same
pixels call after call, and nothing process-wide is touched.

The transforms are OpenCV calls on one image at a time: Keras 3 has layers for
most of them (``RandomColorJitter``, ``RandomGaussianBlur``, ...), but they cost
more on a CPU than the encoders they feed.

``AUGMENTS`` is the registry of named policies: the presets ``"simclr"`` and
``"degrade"``, and ``"custom"``, the plain ``Augment`` (every transform off until set).
"""

from __future__ import annotations

from functools import partial

import cv2
import numpy as np
from sklearn.base import BaseEstimator, clone

from ._checks import check_random_state
from ._registry import AUGMENTS

#: Share of images whose colours are jittered when ``color`` > 0 (SimCLR's 0.8).
COLOR_PROBABILITY = 0.8
#: Blur sigma range and kernel side as a share of the image side (SimCLR's: 0.1–2.0 and 10%).
BLUR_SIGMA = (0.1, 2.0)
BLUR_KERNEL = 0.1


@AUGMENTS.register("custom")
class Augment(BaseEstimator):
    """A random transform policy, applied to batches of uint8 RGB images.

    Every transform is off by default; each image of a batch draws its own
    random values. Order: crop, affine warp, flip, colour jitter, grayscale,
    blur, downscale, noise, JPEG.

    Parameters
    ----------
    crop : (float, float) or None
        Random resized crop: keep a random region of this range of the area
        (aspect ratio 3/4–4/3) and resize it back to the full side.
    flip : bool
        Mirror half of the images left to right.
    rotation : float
        Rotate by up to ± this many degrees.
    shift : float
        Shift by up to ± this fraction of the side, in x and y.
    shear : float
        Shear by up to ± this many degrees.
    zoom : float
        Scale by a factor in [1 − zoom, 1 + zoom].
    color : float
        Colour jitter strength s (SimCLR): brightness, contrast and saturation
        factors in [1 − 0.8 s, 1 + 0.8 s] and a hue shift of up to 0.2 s of a
        turn, on 80% of the images.
    grayscale : float
        Probability of turning an image gray (kept as three channels).
    blur : float
        Probability of a Gaussian blur (sigma 0.1–2.0, kernel 10% of the side).
    downscale : (float, float) or None
        Shrink every image to a share of its side drawn from this range (at
        least 8 px) and blow it up again: the lost detail of a thumbnail.
    jpeg : (int, int) or None
        Re-compress every image as JPEG at a quality drawn from this range.
    noise : float
        Add Gaussian noise whose standard deviation is drawn from [0, noise] (of 255).
    random_state : int or None
        Seed of the policy's own random generator.

    Examples
    --------
    >>> augment = Augment.preset("simclr", random_state=0)
    >>> views = augment(images)   # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        crop=None,
        flip=False,
        rotation=0.0,
        shift=0.0,
        shear=0.0,
        zoom=0.0,
        color=0.0,
        grayscale=0.0,
        blur=0.0,
        downscale=None,
        jpeg=None,
        noise=0.0,
        random_state=None,
    ):
        self.crop = crop
        self.flip = flip
        self.rotation = rotation
        self.shift = shift
        self.shear = shear
        self.zoom = zoom
        self.color = color
        self.grayscale = grayscale
        self.blur = blur
        self.downscale = downscale
        self.jpeg = jpeg
        self.noise = noise
        self.random_state = random_state

    @classmethod
    def preset(cls, name: str, random_state: int | None = None) -> "Augment":
        """Return the policy ``AUGMENTS`` registers under ``name`` (``"simclr"``, ``"degrade"``), seeded.

        Raises
        ------
        ValueError
            If no policy has that name.
        """
        if not isinstance(name, str):
            raise ValueError(f"unknown augmentation preset {name!r}; choose one of: {', '.join(AUGMENTS.names())}")
        return AUGMENTS.get(name)(random_state=random_state)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Return randomly transformed copies of images (N, H, W, 3) uint8, same shape and dtype.

        Raises
        ------
        ValueError
            If the images are not a uint8 (N, H, W, 3) array or a parameter is out of range.
        """
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            described = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
            raise ValueError(f"expected uint8 RGB images of shape (N, H, W, 3), got {described}")
        if not hasattr(self, "rng_"):
            self._check_params()
            self.rng_ = np.random.default_rng(check_random_state(self.random_state))
        return np.stack([self._one(image, self.rng_) for image in images]) if len(images) else images.copy()

    def _one(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.crop is not None:
            image = _random_resized_crop(image, self.crop, rng)
        if self.rotation or self.shift or self.shear or self.zoom:
            image = _random_affine(image, self.rotation, self.shift, self.shear, self.zoom, rng)
        if self.flip and rng.random() < 0.5:
            image = image[:, ::-1]
        if self.color and rng.random() < COLOR_PROBABILITY:
            image = _color_jitter(image, self.color, rng)
        if self.grayscale and rng.random() < self.grayscale:
            image = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        if self.blur and rng.random() < self.blur:
            side = max(3, int(BLUR_KERNEL * min(image.shape[:2])) // 2 * 2 + 1)
            image = cv2.GaussianBlur(image, (side, side), rng.uniform(*BLUR_SIGMA))
        if self.downscale is not None:
            image = _down_up(image, rng.uniform(*self.downscale))
        if self.noise:
            sigma = np.float32(rng.uniform(0, self.noise) * 255)
            image = np.clip(image + sigma * rng.standard_normal(image.shape, dtype=np.float32), 0, 255).astype(np.uint8)
        if self.jpeg is not None:
            image = jpeg_roundtrip(image, int(rng.integers(self.jpeg[0], self.jpeg[1] + 1)))
        return np.ascontiguousarray(image)

    def _check_params(self) -> None:
        for name in ("rotation", "shear", "color", "noise"):
            _check_number(name, getattr(self, name), 0, np.inf)
        for name in ("shift", "zoom", "grayscale", "blur"):
            _check_number(name, getattr(self, name), 0, 1)
        if not isinstance(self.flip, bool):
            raise ValueError(f"flip must be True or False, got {self.flip!r}")
        if self.crop is not None:
            _check_range("crop", self.crop, 0, 1, positive=True)
        if self.downscale is not None:
            _check_range("downscale", self.downscale, 0, 1, positive=True)
        if self.jpeg is not None:
            _check_range("jpeg", self.jpeg, 1, 100)
        check_random_state(self.random_state)


def make_augment(spec, random_state: int | None = None) -> Augment | None:
    """Build a policy from a preset name, a dict of ``Augment`` keywords, an ``Augment``, or None.

    An ``Augment`` object is copied with its own parameters (a fresh generator); names and dicts get ``random_state``.

    Raises
    ------
    ValueError
        If ``spec`` is none of those.
    """
    if spec is None:
        return None
    if isinstance(spec, Augment):
        return clone(spec)
    if isinstance(spec, str):
        return Augment.preset(spec, random_state)
    if isinstance(spec, dict):
        try:
            return Augment(**{"random_state": random_state, **spec})
        except TypeError:
            valid = sorted(Augment._get_param_names())
            raise ValueError(f"augment keywords must be among {valid}, got {sorted(spec)}") from None
    raise ValueError(f"augment must be None, a preset name ({', '.join(AUGMENTS.names())}), a dict or an Augment; got {spec!r}")


#: SimCLR's policy (Chen et al. 2020).
AUGMENTS.register("simclr", partial(Augment, crop=(0.2, 1.0), flip=True, color=0.4, grayscale=0.2, blur=0.5))
#: The copy-detection policy: SimCLR's and what bad copies suffer.
AUGMENTS.register("degrade", partial(
    Augment, crop=(0.3, 1.0), flip=True, color=0.4, grayscale=0.2, blur=0.5, rotation=30, downscale=(0.1, 1.0), jpeg=(10, 90), noise=0.08
))

# --------------------------------------------------------------------------- the transforms (one RGB uint8 image)


def _random_resized_crop(image: np.ndarray, scale, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    area = height * width * rng.uniform(*scale)
    aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    h = int(np.clip(round(np.sqrt(area / aspect)), 1, height))
    w = int(np.clip(round(np.sqrt(area * aspect)), 1, width))
    top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
    return cv2.resize(image[top : top + h, left : left + w], (width, height), interpolation=cv2.INTER_LINEAR)


def _random_affine(image: np.ndarray, rotation, shift, shear, zoom, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    angle = rng.uniform(-rotation, rotation)
    scale = rng.uniform(1 - zoom, 1 + zoom)
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, scale)
    shear_x = np.tan(np.radians(rng.uniform(-shear, shear)))
    matrix = matrix @ np.array([[1, shear_x, -shear_x * height / 2], [0, 1, 0], [0, 0, 1]])
    matrix[:, 2] += rng.uniform(-shift, shift, 2) * (width, height)
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def _color_jitter(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast, saturation and hue, each by a random factor, in a random order (as SimCLR)."""
    spread = 0.8 * strength
    for step in rng.permutation(4):
        factor = rng.uniform(max(0.0, 1 - spread), 1 + spread)
        if step == 0:  # brightness
            image = cv2.convertScaleAbs(image, alpha=factor)
        elif step == 1:  # contrast, about the mean gray level
            mean = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).mean()
            image = cv2.convertScaleAbs(image, alpha=factor, beta=mean * (1 - factor))
        elif step == 2:  # saturation, away from the image's own gray
            gray = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
            image = cv2.addWeighted(image, factor, gray, 1 - factor, 0)
        else:  # hue, turned by up to 0.2 s of a full circle
            hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV_FULL)
            hsv[..., 0] += np.uint8(round(rng.uniform(-0.2 * strength, 0.2 * strength) * 256) % 256)
            image = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)
    return image


def _down_up(image: np.ndarray, share: float) -> np.ndarray:
    height, width = image.shape[:2]
    small = (max(8, round(width * share)), max(8, round(height * share)))
    return cv2.resize(cv2.resize(image, small, interpolation=cv2.INTER_AREA), (width, height), interpolation=cv2.INTER_LINEAR)


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """An RGB uint8 image encoded as JPEG at ``quality`` and decoded again."""
    _, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


# --------------------------------------------------------------------------- checks


def _check_number(name: str, value, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not low <= value <= high:
        raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")


def _check_range(name: str, value, low: float, high: float, *, positive: bool = False) -> None:
    ok = isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in value
    )
    if not ok or not low <= value[0] <= value[1] <= high or (positive and value[0] <= 0):
        raise ValueError(f"{name} must be a pair (low, high) with {low} <= low <= high <= {high}, got {value!r}")
